import { PermanentDeliveryError, RateLimitedError } from '../../channels/errors';

/**
 * What happened to one message's send, as the sender saw it: sent, held back before the send by
 * a rate limit (the channel's budget or a paused destination), or failed with an error (timedOut:
 * the send deadline cut it off, so the provider may have it all the same).
 */
export type SendResult = { kind: 'sent' } | { kind: 'held-back'; waitMs: number; reason: string } | { kind: 'error'; error: Error; timedOut: boolean };

/** What the decision needs to know of the message and the configuration. */
export interface OutcomeContext {
  /** Attempts counted so far, this one included (the 'sending' mark counts it). */
  attempts: number;
  /** The message type's limit (retry-policy.ts maxAttemptsFor). */
  maxAttempts: number;
  /** The channel's receivers deduplicate by idempotency key: a repeat is harmless there. */
  idempotentChannel: boolean;
  /** Delay before the next attempt after `failedAttempts` (retry-policy.ts retryDelayMs). */
  retryDelayMs: (failedAttempts: number) => number;
}

/** The `result` label of the sends counter: one per outcome. */
export type SendCounterResult = 'sent' | 'rate_limited' | 'retry' | 'failed' | 'dead' | 'unknown';

/** Who asked to slow down: one receiver (a webhook origin) or the whole channel's provider. */
export type SlowDown = { destination: string; retryAfterMs: number } | { channel: true; retryAfterMs: number };

/**
 * The row's next state and everything counted about it. `scheduled` rows come back after
 * retryInMs; refundAttempt gives back the attempt a rate limit used (not the message's fault).
 */
export type OutcomeDecision =
  | { status: 'sent'; counter: 'sent' }
  | {
      status: 'scheduled';
      counter: 'rate_limited' | 'retry';
      retryInMs: number;
      refundAttempt: boolean;
      error: string;
      slowDown?: SlowDown;
      /** Absent for a hold-back: the rate limit's own metrics say it, a line per message would flood. */
      log?: { level: 'info' | 'warn'; message: string };
    }
  | { status: 'failed' | 'dead' | 'unknown'; counter: 'failed' | 'dead' | 'unknown'; error: string; log: { level: 'warn'; message: string } };

/**
 * The outcome of a send as a pure decision (no database, no clock): result or error → next
 * status, retry time and counter. The dispatcher applies it (outbox/fail.ts, the rate limits,
 * the metrics). The order matters: a timeout on a channel without deduplication is 'unknown'
 * whatever the error says (the SMTP server or Twilio may have taken the message before the
 * deadline); a rate limit never uses up an attempt; a permanent error fails at once; otherwise
 * retry with backoff until the attempts are used up, then 'dead'.
 */
export function decideOutcome(result: SendResult, context: OutcomeContext): OutcomeDecision {
  if (result.kind === 'sent') return { status: 'sent', counter: 'sent' };
  if (result.kind === 'held-back') {
    return {
      status: 'scheduled',
      counter: 'rate_limited',
      retryInMs: result.waitMs,
      refundAttempt: true,
      error: result.reason,
    };
  }
  const { error, timedOut } = result;
  if (timedOut && !context.idempotentChannel) {
    // Without a receiver that deduplicates, a retry could deliver it twice: an operator decides,
    // as after a crash mid-send. Webhooks retry under their key.
    return {
      status: 'unknown',
      counter: 'unknown',
      error: `outcome unknown: ${error.message}`,
      log: { level: 'warn', message: 'send timed out: outcome unknown, left for an operator' },
    };
  }
  if (error instanceof RateLimitedError) {
    const slowDown: SlowDown =
      error.destination !== undefined
        ? { destination: error.destination, retryAfterMs: error.retryAfterMs }
        : { channel: true, retryAfterMs: error.retryAfterMs };
    return {
      status: 'scheduled',
      counter: 'rate_limited',
      retryInMs: error.retryAfterMs,
      refundAttempt: true,
      error: error.message,
      slowDown,
      log: {
        level: 'warn',
        message: error.destination !== undefined ? 'receiver asked to slow down: destination paused' : 'provider asked to slow down: channel paused',
      },
    };
  }
  if (error instanceof PermanentDeliveryError) {
    return { status: 'failed', counter: 'failed', error: error.message, log: { level: 'warn', message: 'message failed permanently' } };
  }
  if (context.attempts >= context.maxAttempts) {
    return { status: 'dead', counter: 'dead', error: error.message, log: { level: 'warn', message: 'message dead after its last attempt' } };
  }
  return {
    status: 'scheduled',
    counter: 'retry',
    retryInMs: context.retryDelayMs(context.attempts),
    refundAttempt: false,
    error: error.message,
    log: { level: 'info', message: 'send failed; retrying later' },
  };
}
