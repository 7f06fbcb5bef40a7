/** Raised when an operation outlives its own deadline; the operation itself may still finish later. */
export class DeadlineExceededError extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Races a promise against a timer so a hung dependency never hangs the caller.
 *
 * The timer's expiry is not yet the verdict: after a stall of this process's event loop (a long
 * synchronous stretch, a burst of requests to parse), Node runs the expired timers of the next
 * turn before it reads the sockets whose answers came in meanwhile. So the rejection waits for
 * one setImmediate, which runs after that turn's I/O: an answer already here wins, and a stall of
 * the worker is not reported as a dependency that did not answer (a health probe of PostgreSQL
 * and one of Redis "timed out" together under API load that way). A dependency that is silent
 * still fails, one turn of the loop later.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let verdict: NodeJS.Immediate | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      verdict = setImmediate(() => reject(new DeadlineExceededError(what, ms)));
    }, ms);
  });
  // The losing promise must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer);
    clearImmediate(verdict);
  });
}

/** Sleeps, waking early (with a rejection) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Monotonic milliseconds: unaffected by wall-clock jumps, still advancing while the process is stopped. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** A deadline as an AbortSignal, linked to other signals; clear() when the operation settled. */
export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** True once the deadline itself (not a linked signal) aborted the signal. */
  readonly expired: boolean;
  /** Stops the timer and unlinks the other signals; call it once the operation settled. */
  clear(): void;
}

/**
 * Aborts `signal` after `ms`, or as soon as any linked signal aborts. This replaces
 * `AbortSignal.any([AbortSignal.timeout(ms), ...])`, which never fires once the timeout signal
 * is garbage-collected (nodejs/node#57736: the combined signal holds its sources weakly, and a
 * collected timeout signal takes its timer with it), so requests were held far past their
 * deadline. Here the timer is an ordinary setTimeout that holds the controller strongly until
 * it fires or clear() is called. The reason is a DOMException named TimeoutError, as
 * AbortSignal.timeout gives, so callers that tell timeouts by name keep working. A stall of this
 * process is not a timeout: see withDeadline.
 */
export function startDeadline(ms: number, what: string, ...linked: ReadonlyArray<AbortSignal | undefined>): DeadlineSignal {
  const controller = new AbortController();
  let expired = false;
  const unlinks: Array<() => void> = [];
  let verdict: NodeJS.Immediate | undefined;
  // The verdict waits one setImmediate, as withDeadline's does: after a stall of this process an
  // answer already in the socket is read first, and the operation's clear() takes the verdict back.
  const timer = setTimeout(() => {
    verdict = setImmediate(() => {
      expired = true;
      controller.abort(new DOMException(`${what} did not answer within ${ms} ms`, 'TimeoutError'));
    });
  }, ms);
  const clear = () => {
    clearTimeout(timer);
    clearImmediate(verdict);
    for (const unlink of unlinks.splice(0)) unlink();
  };
  for (const other of linked) {
    if (!other) continue;
    if (other.aborted) {
      controller.abort(other.reason);
      break;
    }
    const onAbort = () => {
      controller.abort(other.reason);
      clear();
    };
    other.addEventListener('abort', onAbort, { once: true });
    unlinks.push(() => other.removeEventListener('abort', onAbort));
  }
  if (controller.signal.aborted) clear();
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear,
  };
}

/** Runs `operation` under a deadline (see startDeadline), clearing it however the operation ends. */
export async function withDeadlineSignal<T>(
  ms: number,
  what: string,
  linked: ReadonlyArray<AbortSignal | undefined>,
  operation: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = startDeadline(ms, what, ...linked);
  try {
    return await operation(deadline.signal);
  } finally {
    deadline.clear();
  }
}
