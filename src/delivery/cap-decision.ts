import type { MessageClass } from './message-class';

/**
 * The frequency caps' verdict on the messages of one claim: a pure function of what the claim
 * read under its per-contact locks (outbox/frequency-cap.ts), tested alone in
 * test/delivery/cap-decision.test.ts.
 */

export interface Cap {
  tenantId: string;
  /** '*' caps every class but transactional. */
  class: '*' | Exclude<MessageClass, 'transactional'>;
  maxMessages: number;
  periodMs: number;
  mode: 'defer' | 'skip';
}

/** A message that already counts: sent at `atMs`, or in flight (counted as sent now). */
export interface CountedMessage {
  tenantId: string;
  contactId: string;
  class: MessageClass;
  atMs: number;
}

export interface Candidate {
  id: string;
  tenantId: string;
  contactId: string;
  class: MessageClass;
}

export type CapVerdict = { action: 'send' } | { action: 'defer'; untilMs: number } | { action: 'skip' };

/**
 * Candidates in the order given (due order): each is sent when every cap over its class leaves
 * room (fewer than maxMessages counted within the period before now), and then counts against the
 * ones after it. Otherwise skipped when one of the caps it is over says skip, else deferred to the
 * latest moment at which each such cap has room again: when enough counted messages have left its
 * period. Transactional messages are never capped.
 */
export function decideCaps(input: {
  nowMs: number;
  caps: readonly Cap[];
  counted: readonly CountedMessage[];
  candidates: readonly Candidate[];
}): Map<string, CapVerdict> {
  const counted = [...input.counted];
  const verdicts = new Map<string, CapVerdict>();
  for (const candidate of input.candidates) {
    const caps =
      candidate.class === 'transactional'
        ? []
        : input.caps.filter((cap) => cap.tenantId === candidate.tenantId && (cap.class === '*' || cap.class === candidate.class));
    let skip = false;
    let untilMs: number | undefined;
    for (const cap of caps) {
      const times = counted
        .filter((m) => m.tenantId === candidate.tenantId && m.contactId === candidate.contactId && m.class !== 'transactional')
        .filter((m) => (cap.class === '*' || m.class === cap.class) && m.atMs > input.nowMs - cap.periodMs)
        .map((m) => m.atMs)
        .sort((a, b) => a - b);
      if (times.length < cap.maxMessages) continue;
      // Room again once the oldest (times.length - maxMessages + 1) of them are out of the period.
      const freedAt = times[times.length - cap.maxMessages]! + cap.periodMs;
      if (cap.mode === 'skip') skip = true;
      untilMs = Math.max(untilMs ?? freedAt, freedAt);
    }
    if (untilMs === undefined) {
      verdicts.set(candidate.id, { action: 'send' });
      counted.push({ tenantId: candidate.tenantId, contactId: candidate.contactId, class: candidate.class, atMs: input.nowMs });
    } else {
      verdicts.set(candidate.id, skip ? { action: 'skip' } : { action: 'defer', untilMs });
    }
  }
  return verdicts;
}
