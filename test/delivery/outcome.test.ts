import { PermanentDeliveryError, RateLimitedError, TransientDeliveryError } from '../../src/channels/errors';
import { decideOutcome, type OutcomeContext, type SendResult } from '../../src/delivery/dispatch/outcome';

/**
 * The outcome of one send as a pure decision (fast lane, no services): result or error → next
 * status, retry time, counter, and whether a rate limit slows the channel or one receiver down.
 */

/** Retry delay of n failed attempts: 1000·n, so each row shows which attempt count was used. */
const context = (over: Partial<OutcomeContext> = {}): OutcomeContext => ({
  attempts: 1,
  maxAttempts: 3,
  idempotentChannel: false,
  retryDelayMs: (failed) => 1000 * failed,
  ...over,
});

const failure = (error: Error, timedOut = false): SendResult => ({ kind: 'error', error, timedOut });

describe('decideOutcome', () => {
  test.each<[string, SendResult, Partial<OutcomeContext>, Record<string, unknown>]>([
    ['a send the provider accepted', { kind: 'sent' }, {}, { status: 'sent', counter: 'sent' }],
    [
      'held back by the channel budget: back, attempt refunded',
      { kind: 'held-back', waitMs: 250, reason: 'rate limit of channel sms: waiting 250 ms' },
      {},
      { status: 'scheduled', counter: 'rate_limited', retryInMs: 250, refundAttempt: true, error: 'rate limit of channel sms: waiting 250 ms' },
    ],
    [
      'a transient error before the last attempt: retry after the backoff of its attempts',
      failure(new TransientDeliveryError('HTTP 503')),
      { attempts: 2 },
      { status: 'scheduled', counter: 'retry', retryInMs: 2000, refundAttempt: false, error: 'HTTP 503' },
    ],
    [
      'a plain error counts as transient',
      failure(new Error('ECONNRESET')),
      {},
      { status: 'scheduled', counter: 'retry', retryInMs: 1000, refundAttempt: false, error: 'ECONNRESET' },
    ],
    [
      'a transient error on the last attempt: dead',
      failure(new TransientDeliveryError('HTTP 500')),
      { attempts: 3 },
      { status: 'dead', counter: 'dead', error: 'HTTP 500' },
    ],
    ['attempts beyond the limit (limit lowered since): dead', failure(new Error('x')), { attempts: 5, maxAttempts: 2 }, { status: 'dead', counter: 'dead' }],
    [
      'a permanent error fails at once, even on the first attempt',
      failure(new PermanentDeliveryError('HTTP 400 bad recipient')),
      { attempts: 1 },
      { status: 'failed', counter: 'failed', error: 'HTTP 400 bad recipient' },
    ],
    [
      "the provider's 429 pauses the channel, attempt refunded",
      failure(new RateLimitedError('HTTP 429', 30_000)),
      { attempts: 3 },
      { status: 'scheduled', counter: 'rate_limited', retryInMs: 30_000, refundAttempt: true, slowDown: { channel: true, retryAfterMs: 30_000 } },
    ],
    [
      "a receiver's 429 pauses only that destination",
      failure(new RateLimitedError('HTTP 429', 5_000, 'https://crm.example:443')),
      {},
      { status: 'scheduled', counter: 'rate_limited', retryInMs: 5_000, slowDown: { destination: 'https://crm.example:443', retryAfterMs: 5_000 } },
    ],
    [
      'a timeout where the receiver does not deduplicate: unknown, for an operator',
      failure(new Error('send of message 7 timed out'), true),
      { idempotentChannel: false },
      { status: 'unknown', counter: 'unknown', error: 'outcome unknown: send of message 7 timed out' },
    ],
    [
      'a timeout is unknown whatever the error says, even on the last attempt',
      failure(new PermanentDeliveryError('aborted'), true),
      { attempts: 3 },
      { status: 'unknown', counter: 'unknown' },
    ],
    [
      'a timeout where the receiver deduplicates: retried under the same key',
      failure(new Error('timed out'), true),
      { idempotentChannel: true },
      { status: 'scheduled', counter: 'retry', retryInMs: 1000, refundAttempt: false },
    ],
    [
      'a timeout on the last attempt where the receiver deduplicates: dead',
      failure(new Error('timed out'), true),
      { idempotentChannel: true, attempts: 3 },
      { status: 'dead', counter: 'dead' },
    ],
    [
      'an error that is not a timeout on an idempotent channel follows the error',
      failure(new PermanentDeliveryError('HTTP 404')),
      { idempotentChannel: true },
      { status: 'failed', counter: 'failed' },
    ],
  ])('%s', (_name, result, over, expected) => {
    expect(decideOutcome(result, context(over))).toMatchObject(expected);
  });

  test('only a retry asks for a retry delay, with the attempts used so far', () => {
    const asked: number[] = [];
    const ctx = context({ attempts: 2, retryDelayMs: (n) => (asked.push(n), 1) });
    decideOutcome(failure(new PermanentDeliveryError('no')), ctx);
    decideOutcome(failure(new RateLimitedError('slow', 10)), ctx);
    decideOutcome({ kind: 'sent' }, ctx);
    expect(asked).toEqual([]);
    decideOutcome(failure(new Error('again')), ctx);
    expect(asked).toEqual([2]);
  });

  test('a hold-back is not logged per message; every failure is', () => {
    expect(decideOutcome({ kind: 'held-back', waitMs: 1, reason: 'r' }, context())).not.toHaveProperty('log');
    for (const error of [new Error('e'), new PermanentDeliveryError('p'), new RateLimitedError('r', 1)]) {
      expect(decideOutcome(failure(error), context())).toHaveProperty('log.message');
    }
  });
});
