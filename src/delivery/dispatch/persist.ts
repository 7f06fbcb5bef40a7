import type { Logger } from '../../logging/logger';

/**
 * Retries a post-send write through short database blips; if it still fails (or the sends are
 * being aborted) the lease expiry takes over and the row becomes 'unknown', logged here.
 */
export async function persistWrite(write: () => Promise<unknown>, log: Logger, abort: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      if (attempt >= 5 || abort.aborted) {
        log.error('could not record a delivery outcome; the row will expire to unknown', { error: (err as Error).message });
        return;
      }
      await delay(100 * 2 ** attempt);
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
