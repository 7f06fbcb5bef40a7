/** The argument a fair-bench peer process gets: one JSON object (argv[2]). */
export interface FairPeerArgs {
  settings: 'defaults' | 'design' | 'best';
  queue: string;
  databaseUrl: string;
  sinkUrl: string;
  secret: string;
  redisUrl?: string;
  /** BullMQ's key prefix: each bench run has its own, removed at its end. */
  redisPrefix?: string;
}

export function readFairPeerArgs(): FairPeerArgs {
  return JSON.parse(process.argv[2]!) as FairPeerArgs;
}

/** Ends the consumer when the bench stops it (SIGTERM) without waiting on jobs in flight. */
export function exitOnSignal(close: () => Promise<void>): void {
  process.once('SIGTERM', () => {
    void close().finally(() => process.exit(0));
  });
}
