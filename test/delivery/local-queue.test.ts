import { jest } from '@jest/globals';
import type { MessageClass } from '../../src/delivery/message-class';
import { LocalQueue, type QueueConfig } from '../../src/delivery/dispatch/local-queue';
import type { ClaimedMessage } from '../../src/delivery/outbox/claim';

/**
 * The dispatcher's local queue keeps claimed rows by class, and inside a class in claim order:
 * a transactional row claimed while a marketing backlog is queued is marked (and so sent) next,
 * and the rows' order from the pick (round-robin across tenants) is never re-sorted into due order.
 * Pure: no database, no process.
 */
const config: QueueConfig = { batchSize: 100, concurrency: 2, leaseMs: 60_000, sendTimeoutMs: 10_000, markAhead: 0 };

const row = (id: string, cls: MessageClass, tenant = 'a'): ClaimedMessage => ({
  id,
  tenant_id: tenant,
  contact_id: null,
  lead_id: null,
  channel: 'webhook',
  recipient: 'sink',
  // Deliberately against claim order: the queue must not sort by it.
  scheduled_at: new Date(Date.UTC(2026, 0, 1) - Number(id) * 1_000),
  template: 'x',
  subject: null,
  variables: {},
  tone: null,
  type: 'followup',
  class: cls,
  personalize: false,
  context_hints: null,
  attempts: 0,
  idempotency_key: id,
  recurrence_interval_seconds: null,
  resolution: null,
  traceparent: null,
});

describe('local queue order', () => {
  afterEach(() => jest.useRealTimers());

  it('puts a later transactional row ahead of queued marketing rows, after queued transactional ones', () => {
    const queue = new LocalQueue(config, ['webhook']);
    queue.add(row('1', 'transactional'), 'c1');
    for (const id of ['2', '3', '4']) queue.add(row(id, 'marketing'), 'c1');
    queue.add(row('5', 'followup'), 'c2');
    queue.add(row('6', 'transactional'), 'c2');
    queue.add(row('7', 'marketing'), 'c2');
    expect(queue.prefetched.map((p) => p.row.id)).toEqual(['1', '6', '5', '2', '3', '4', '7']);
    // The next sends take the queue's head: both transactional rows first.
    expect(queue.nextMarkGroup().map((p) => p.row.id)).toEqual(['1', '6']);
  });

  it("keeps a claim's order inside a class (round-robin across tenants, not due order)", () => {
    const queue = new LocalQueue(config, ['webhook']);
    const claim = [row('1', 'marketing', 'a'), row('9', 'marketing', 'b'), row('2', 'marketing', 'a'), row('8', 'marketing', 'b')];
    for (const r of claim) queue.add(r, 'c1');
    expect(queue.prefetched.map((p) => p.row.tenant_id)).toEqual(['a', 'b', 'a', 'b']);
  });

  it('returns the rows held past half the lease even when a younger transactional row sits ahead of them', () => {
    // The queue's clock is process.hrtime (monotonicMs), which fake timers advance.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    const queue = new LocalQueue(config, ['webhook']);
    queue.add(row('1', 'marketing'), 'c1');
    queue.add(row('2', 'marketing'), 'c1');
    jest.advanceTimersByTime(config.leaseMs / 2 - 10);
    queue.add(row('3', 'transactional'), 'c2');
    jest.advanceTimersByTime(20);
    expect(queue.takeHeldTooLong().map((p) => p.row.id)).toEqual(['1', '2']);
    expect(queue.prefetched.map((p) => p.row.id)).toEqual(['3']);
  });
});
