import type { RequestHandler } from 'express';

/** Seconds a shed caller is told to wait: short, since a burst of requests passes quickly. */
export const SHED_RETRY_AFTER_SECONDS = 1;

/**
 * Sheds /api requests beyond maxInFlight at once with 503 + Retry-After, before any body is read
 * or any connection is asked for. Queueing them instead would only move the overload into the
 * database pool, where it once showed as 1,840 × 500 and a starved dispatcher.
 */
export function limitInFlight(maxInFlight: number, onShed: () => void = () => undefined): RequestHandler {
  let inFlight = 0;
  return (req, res, next) => {
    if (inFlight >= maxInFlight) {
      onShed();
      const answer = () =>
        res.set('Retry-After', String(SHED_RETRY_AFTER_SECONDS)).status(503).json({ error: 'busy: too many requests in flight; retry shortly' });
      // Read the body away first: a socket closed with unread request bytes is reset by the
      // kernel, and the caller then sees ECONNRESET instead of the 503 it can act on.
      if (req.readableEnded) answer();
      else {
        req.once('end', answer);
        req.once('error', () => res.destroy());
        req.resume();
      }
      return;
    }
    inFlight++;
    let done = false;
    // 'close' fires for finished and for aborted requests alike: each decrements exactly once.
    res.once('close', () => {
      if (!done) {
        done = true;
        inFlight--;
      }
    });
    next();
  };
}
