/** Thrown by a check when waiting longer cannot help (the process it waits on has exited): waitFor rethrows it at once. */
export class GiveUp extends Error {}

/**
 * Polls until the check returns a value (not undefined/false). The limit only stops a broken
 * test from hanging; no test asserts how long anything took.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { limitMs?: number; everyMs?: number } = {},
): Promise<T> {
  const limitMs = options.limitMs ?? 60_000;
  const everyMs = options.everyMs ?? 100;
  const start = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${err.message}`);
      lastError = err;
    }
    if (Date.now() - start > limitMs) {
      throw new Error(`gave up waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
