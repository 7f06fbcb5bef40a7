// redlock 4.2.0 ships no types; the evidence test needs only these two members.
declare module 'redlock' {
  export default class Redlock {
    constructor(clients: unknown[], options?: { retryCount?: number });
    lock(resource: string, ttlMs: number): Promise<{ value: string }>;
  }
}
