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
