import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { waitFor } from '../support/wait';

/**
 * A webhook receiver answering 429 pauses that receiver (its origin) only: webhooks to every other
 * receiver keep going out. (Before, the whole webhook channel paused for the Retry-After.)
 */
describe('webhook 429 pauses that destination only', () => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let slow: WebhookSink;
  let other: WebhookSink;
  let running: InProcessDispatcher;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase('postgres'));
    slow = await startWebhookSink();
    other = await startWebhookSink();
    // The slow receiver asks for a minute every time: far longer than the test waits for the other.
    slow.respond(() => ({ status: 429, headers: { 'retry-after': '60' } }));
    running = startDispatcher(db, deliveryConfig({ WEBHOOK_TARGETS: `slow=${slow.url},other=${other.url}` }));
  });
  afterAll(async () => {
    await running.stop();
    await slow.close();
    await other.close();
    await closeDb();
  });

  const request = (recipient: string, key: string): ScheduleRequest => ({
    tenantId: 't1',
    contactId: 'c1',
    channel: 'webhook',
    recipient,
    scheduledAt: new Date(Date.now() + 100),
    template: 'Hello',
    idempotencyKey: key,
  });

  it('keeps delivering to other receivers while one is paused', async () => {
    await scheduleMessages(db, [request('slow', 'to-slow-1')]);
    await waitFor('the slow receiver to answer 429', () => slow.requests.some((r) => r.status === 429));
    await waitFor('the 429 to be recorded', async () => (await statusOf(db, 'to-slow-1'))?.last_error?.includes('429'));

    await scheduleMessages(db, [request('other', 'to-other-1'), request('slow', 'to-slow-2')]);
    const delivered = await waitFor(
      'the other receiver to get its message',
      async () => {
        const row = await statusOf(db, 'to-other-1');
        return row?.status === 'sent' ? row : undefined;
      },
      { limitMs: 20_000 },
    );
    expect(delivered.status).toBe('sent');
    expect(other.deliveries.map((d) => d.key)).toEqual(['to-other-1']);

    // The paused receiver is not asked again during its pause: its second message waits, unsent.
    const waiting = await waitFor('the second message to the slow receiver to be put off', async () => {
      const row = await statusOf(db, 'to-slow-2');
      return row?.status === 'scheduled' && row.last_error ? row : undefined;
    });
    expect(waiting.last_error).toContain('asked to wait');
    expect(slow.requests.map((r) => r.key)).toEqual(['to-slow-1']);
  });
});
