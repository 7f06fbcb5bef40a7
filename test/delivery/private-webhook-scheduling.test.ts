import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Database } from '../../src/db/database';
import { deliveryRoutes } from '../../src/delivery/api-routes';
import { FollowUpService } from '../../src/delivery/followup-service';
import { createTemplateEngine } from '../../src/templates/template-engine';
import { deliveryConfig, openDeliveryDatabase } from '../support/delivery-harness';

/**
 * POST /api/followups with a webhook URL: an internal address is refused when scheduled (400
 * naming the field, nothing stored) unless WEBHOOK_ALLOW_PRIVATE=true, not only when sent.
 */
describe('a private webhook URL is refused when scheduled', () => {
  let db: Database;
  let closeDb: () => Promise<void>;
  const servers: http.Server[] = [];

  beforeAll(async () => {
    ({ db, close: closeDb } = await openDeliveryDatabase('postgres'));
  });
  afterAll(async () => {
    for (const server of servers) server.close();
    await closeDb();
  });

  /** The real delivery routes over the real database, as the worker mounts them under /api. */
  async function api(env: Record<string, string>): Promise<(body: unknown) => Promise<{ status: number; body: any }>> {
    const config = deliveryConfig(env);
    const privateWebhookUrls = config.webhook.allowPrivate ? 'allow' : 'refuse';
    const templates = createTemplateEngine(config.templateLimits);
    const service = new FollowUpService(db, { webhookTargets: new Set(), privateWebhookUrls, templates });
    const app = express()
      .use(express.json())
      .use('/api', deliveryRoutes({ service, db, config, webhookTargets: new Set(), templates }));
    const server = http.createServer(app);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/followups`;
    return async (body) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: await response.json() };
    };
  }

  const request = (key: string, recipient: string) => ({
    tenantId: 't1',
    channel: 'webhook',
    recipient,
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    template: 'hello',
    idempotencyKey: key,
  });
  const stored = async (prefix: string) =>
    Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_messages WHERE idempotency_key LIKE $1`, [`${prefix}%`])).rows[0]!.n);

  it.each([
    'http://127.0.0.1:8080/hook',
    'http://localhost/hook',
    'http://[::ffff:7f00:1]/hook',
    'http://[64:ff9b::a9fe:a9fe]/latest',
    'http://169.254.169.254/latest',
    'http://10.0.0.5/',
  ])('refuses %s with 400 naming recipient', async (url) => {
    const post = await api({ WEBHOOK_ALLOW_PRIVATE: 'false' });
    const key = `priv-${url}`;
    const response = await post(request(key, url));
    expect(response.status).toBe(400);
    expect(response.body.issues).toEqual([{ field: 'recipient', message: expect.stringContaining('WEBHOOK_ALLOW_PRIVATE') }]);
    expect(await stored(key)).toBe(0);
  });

  it('names the message in a batch', async () => {
    const post = await api({ WEBHOOK_ALLOW_PRIVATE: 'false' });
    const response = await post({ messages: [request('batch-ok', 'https://hooks.example.com/x'), request('batch-bad', 'http://192.168.1.1/')] });
    expect(response.status).toBe(400);
    expect(response.body.issues).toEqual([{ field: 'messages[1].recipient', message: expect.any(String) }]);
    expect(await stored('batch-')).toBe(0);
  });

  it('accepts a public URL, and a private one when WEBHOOK_ALLOW_PRIVATE=true', async () => {
    expect((await (await api({ WEBHOOK_ALLOW_PRIVATE: 'false' }))(request('pub-1', 'https://hooks.example.com/x'))).status).toBe(201);
    expect((await (await api({ WEBHOOK_ALLOW_PRIVATE: 'true' }))(request('allowed-1', 'http://127.0.0.1:9/hook'))).status).toBe(201);
    expect(await stored('pub-1')).toBe(1);
    expect(await stored('allowed-1')).toBe(1);
  });
});
