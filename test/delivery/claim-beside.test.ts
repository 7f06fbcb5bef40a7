import type { Database, Queryable, QueryOptions } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { deliveryConfig, openDeliveryDatabase, sinkRequest, startDispatcher, statusOf, type InProcessDispatcher } from '../support/delivery-harness';
import { waitFor } from '../support/wait';

/**
 * A transactional row scheduled while the loop's claim runs is claimed beside it
 * (dispatch/claimer.ts), not after it: the loop's next claim statement is held open here, on
 * real PostgreSQL, and the row must reach the sink while it is still held. Before the claim
 * beside the loop, the row waited for the held claim and then for one of its own, so it did not
 * arrive until the claim was let go. Everything is still sent once, and the held claim, let go,
 * takes nothing twice.
 */
describe('claim beside the loop (postgres)', () => {
  let db: Database;
  let closeDb: () => Promise<void>;
  let sink: WebhookSink;
  let running: InProcessDispatcher;
  const gate = { armed: false, held: false, release: () => {}, claims: 0 };

  /** The database, with the first claim statement after `gate.armed` held until gate.release(). */
  function gated(inner: Database): Database {
    const wrapTx = (tx: Queryable): Queryable => ({
      exec: (script) => tx.exec(script),
      async query(text, params, options?: QueryOptions) {
        if (options?.name === 'delivery-claim') {
          gate.claims++;
          if (gate.armed && !gate.held) {
            gate.held = true;
            await new Promise<void>((resolve) => (gate.release = resolve));
          }
        }
        return tx.query(text, params, options);
      },
    });
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'transaction') return <T>(fn: (tx: Queryable) => Promise<T>) => target.transaction((tx) => fn(wrapTx(tx)));
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase('postgres'));
    sink = await startWebhookSink({ secret: 'test-secret' });
    running = startDispatcher(gated(db), deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}`, WEBHOOK_SECRET: 'test-secret' }));
  });
  afterAll(async () => {
    gate.release();
    await running.stop();
    await sink.close();
    await closeDb();
  });

  it('sends a transactional row while the loop claim that began before it is still running', async () => {
    // The loop's first pass is over (its claim found nothing): the next claim is the one held.
    await waitFor('first pass', async () => (running.dispatcher.lastTickAt && gate.claims > 0 ? true : undefined), { limitMs: 20_000 });
    gate.armed = true;
    await scheduleMessages(db, [{ ...sinkRequest('marketing-1', 0), type: 'campaign' }]);
    await waitFor('loop claim held', async () => (gate.held ? true : undefined), { limitMs: 20_000 });

    await scheduleMessages(db, [{ ...sinkRequest('reminder-1', 0), type: 'appointment-reminder' }]);
    const delivered = await waitFor('reminder at the sink', async () => sink.deliveries.find((d) => d.key === 'reminder-1'), { limitMs: 20_000, everyMs: 20 });
    expect(delivered.signatureValid).toBe(true);
    // Still held: the reminder came through the claim beside it, not after the loop's.
    expect(gate.held).toBe(true);
    expect(gate.claims).toBeGreaterThanOrEqual(2);

    gate.release();
    for (const key of ['reminder-1', 'marketing-1']) {
      const row = await waitFor(
        `${key} sent`,
        async () => {
          const r = await statusOf(db, key);
          return r?.status === 'sent' ? r : undefined;
        },
        { limitMs: 20_000 },
      );
      expect(row.attempts).toBe(1);
    }
    expect(sink.requests.filter((r) => r.key === 'reminder-1')).toHaveLength(1);
    expect(sink.requests.filter((r) => r.key === 'marketing-1')).toHaveLength(1);
  });
});
