import { createPgDatabase } from '../../src/db/pg-database';
import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { deliveryConfig, openDeliveryDatabase, startDispatcher, statusOf } from '../support/delivery-harness';
import { quietLogger } from '../support/harness';
import { startTcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';

describe('delivery recovery', () => {
  let db: Database;
  let url: string;
  let closeDb: () => Promise<void>;
  let sink: WebhookSink;

  beforeAll(async () => {
    const opened = await openDeliveryDatabase('postgres');
    ({ db, close: closeDb } = opened);
    url = opened.url!;
    sink = await startWebhookSink();
  });
  afterAll(async () => {
    await sink.close();
    await closeDb();
  });

  const request = (key: string, dueInMs: number, channel: ScheduleRequest['channel'] = 'webhook'): ScheduleRequest => ({
    tenantId: 't1',
    channel,
    recipient: channel === 'email' ? 'ann@example.com' : 'sink',
    scheduledAt: new Date(Date.now() + dueInMs),
    template: 'Hello',
    idempotencyKey: key,
  });

  it('backs off while the database is unreachable and resumes by itself when it returns', async () => {
    const target = new URL(url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const viaProxy = createPgDatabase({ url: proxied.toString(), poolMax: 4, queryTimeoutMs: 1_000, applicationName: 'recovery test', logger: quietLogger });
    const running = startDispatcher(viaProxy, deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}` }), { instanceId: 'recovering' });
    try {
      await scheduleMessages(db, [request('before-outage', 200)]);
      await waitFor('sent before the outage', async () => (await statusOf(db, 'before-outage'))?.status === 'sent');

      proxy.setMode('blackhole');
      await scheduleMessages(db, [request('during-outage', 500)]);
      const errors = async () => (await running.metrics.databaseErrors.get()).values[0]?.value ?? 0;
      await waitFor('dispatcher errors', async () => (await errors()) >= 2, { limitMs: 30_000 });
      expect((await statusOf(db, 'during-outage'))!.status).toBe('scheduled');

      proxy.setMode('pass');
      await waitFor('sent after the outage', async () => (await statusOf(db, 'during-outage'))?.status === 'sent', { limitMs: 60_000 });
      expect(sink.deliveries.filter((d) => d.key === 'during-outage')).toHaveLength(1);
    } finally {
      await running.stop();
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('a 3 s outage under load (the database refusing connections): the backoff stays short, and delivery resumes once the database answers', async () => {
    const target = new URL(url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const viaProxy = createPgDatabase({ url: proxied.toString(), poolMax: 4, queryTimeoutMs: 1_000, applicationName: 'recovery test', logger: quietLogger });
    // Sends that take a little while, so some finish during the outage (each used to wake the
    // backing-off loop, and each failed pass doubled the backoff).
    sink.respond(({ key }) => ({ status: 200, delayMs: key.startsWith('load-') ? 20 : 0 }));
    const running = startDispatcher(viaProxy, deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}` }), { instanceId: 'outage' });
    const backoffSeconds = async () => (await running.metrics.errorBackoff.get()).values[0]?.value ?? 0;
    const errors = async () => (await running.metrics.databaseErrors.get()).values[0]?.value ?? 0;
    const sentCount = async (prefix: string) =>
      Number(
        (await db.query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_messages WHERE idempotency_key LIKE $1 AND status = 'sent'`, [`${prefix}%`]))
          .rows[0]!.n,
      );
    try {
      const load = 400;
      await scheduleMessages(
        db,
        Array.from({ length: load }, (_, i) => request(`load-${i}`, 100 + i * 5)),
      );
      await waitFor('delivery under way', async () => (await sentCount('load-')) >= 40, { everyMs: 10 });

      proxy.setMode('refuse');
      const errorsBefore = await errors();
      // The outage itself (what is injected), not an assertion.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await errors()).toBeGreaterThan(errorsBefore);
      // While the database is away the dispatcher probes it often, and does not sit out a long
      // backoff it built up from many failed passes.
      expect(await backoffSeconds()).toBeLessThanOrEqual(1);
      proxy.setMode('pass');

      const after = 30;
      await scheduleMessages(
        db,
        Array.from({ length: after }, (_, i) => request(`after-${i}`, 100)),
      );
      await waitFor('every message sent after the outage', async () => (await sentCount('after-')) === after && (await sentCount('load-')) === load, {
        limitMs: 60_000,
        everyMs: 50,
      });
      expect(await backoffSeconds()).toBe(0);
      const delivered = sink.deliveries.filter((d) => d.key.startsWith('load-') || d.key.startsWith('after-')).map((d) => d.key);
      expect(delivered).toHaveLength(load + after);
      expect(new Set(delivered).size).toBe(load + after);
    } finally {
      proxy.setMode('pass');
      sink.respond(() => ({ status: 200 }));
      await running.stop();
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('turns an e-mail left sending by a dead worker into unknown for an operator, never resending it', async () => {
    const running = startDispatcher(db, deliveryConfig({ WEBHOOK_TARGETS: `sink=${sink.url}` }), { instanceId: 'sweeper' });
    try {
      await scheduleMessages(db, [request('ghost-email', -1_000, 'email'), request('ghost-webhook', -1_000)]);
      // What a worker killed after its claim leaves behind: rows 'sending' under a lease that ran out.
      await db.query(`UPDATE scheduled_messages SET status = 'sending', claimed_by = 'dead-worker:1', attempts = 1,
                        lease_expires_at = now() - interval '1 second' WHERE idempotency_key LIKE 'ghost-%'`);
      running.dispatcher.wakeUp();
      await waitFor('email unknown', async () => (await statusOf(db, 'ghost-email'))?.status === 'unknown');
      await waitFor('webhook resent', async () => (await statusOf(db, 'ghost-webhook'))?.status === 'sent');
      const unknown = await running.service.listByStatus('unknown');
      expect(unknown.map((m) => m.idempotencyKey)).toEqual(['ghost-email']);
      expect(unknown[0]!.lastError).toContain('lease expired');
      expect(sink.deliveries.filter((d) => d.key === 'ghost-webhook')).toHaveLength(1);

      // The operator checked the mail log: it went out.
      expect(await running.service.resolveUnknown(unknown[0]!.id, 'sent')).toBe(true);
      const row = await statusOf(db, 'ghost-email');
      expect(row).toEqual(expect.objectContaining({ status: 'sent', resolution: 'operator: sent' }));
    } finally {
      await running.stop();
    }
  });
});
