import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-suppressions-test-key-0123456789';

/**
 * Suppressions, the auto follow-up rule, queue status and worker health under /api/v1 on a real
 * worker process: opt-outs added, replaced, lifted and listed page by page (and a suppressed
 * recipient's message skipped), the rule triggered once per lead, counts as numbers that match
 * the outbox, the dispatchers' heartbeat; each refusal a problem naming the field, with nothing
 * stored changed. Every answer is checked against the OpenAPI document the worker serves.
 */
describe('/api/v1 suppressions, auto follow-ups, queue and worker', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let sink: WebhookSink;

  beforeAll(async () => {
    sink = await startWebhookSink();
    worker = fixture.spawn('v1-suppressions', {
      ...fixture.serviceEnv(),
      JOBS_ENABLED: 'false',
      API_KEY,
      LOG_LEVEL: 'info',
      WEBHOOK_TARGETS: `crm=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      FOLLOWUP_SCHEDULES: '30m,2h',
      FOLLOWUP_RULE_TOP_P: '0.8',
    });
    await waitUntilStarted(worker);
    for (const id of ['t1', 't2']) expect((await call('PUT', `/v1/tenants/${id}`, { name: id, status: 'active' })).status).toBe(201);
  });
  afterAll(async () => sink?.close());

  const call = v1Client(() => worker, API_KEY);
  const stored = async () =>
    JSON.stringify(await fixture.sql('SELECT * FROM suppressions ORDER BY tenant_id, channel, recipient')) +
    JSON.stringify(await fixture.sql('SELECT * FROM scheduled_messages ORDER BY id'));
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

  it('adds, replaces, lifts and lists opt-outs; refusals change nothing', async () => {
    const added = await call('PUT', '/v1/suppressions', { tenantId: 't1', channel: 'email', recipient: 'ann@example.com', reason: 'asked' });
    expect(added).toMatchObject({ status: 201, body: { tenantId: 't1', channel: 'email', recipient: 'ann@example.com', reason: 'asked' } });
    const replaced = await call('PUT', '/v1/suppressions', { tenantId: 't1', channel: 'email', recipient: 'ann@example.com', reason: 'complained' });
    expect(replaced).toMatchObject({ status: 200, body: { reason: 'complained', createdAt: added.body.createdAt } });

    const recipients = ['+4915100000001', '+4915100000002', 'bob@example.com', 'crm', 'zoë@example.com', 'ünïcode@example.com'];
    for (const [i, recipient] of recipients.entries()) {
      const channel = recipient.startsWith('+') ? 'sms' : recipient === 'crm' ? 'webhook' : i % 2 ? '*' : 'email';
      expect((await call('PUT', '/v1/suppressions', { tenantId: 't1', channel, recipient })).status).toBe(201);
    }
    expect((await call('PUT', '/v1/suppressions', { tenantId: 't2', channel: 'email', recipient: 'ann@example.com' })).status).toBe(201);

    // Pages of two, in (channel, recipient) order, until nextCursor is null; every opt-out of t1 once.
    const seen: string[] = [];
    let cursor: string | null = null;
    let firstCursor: string | null = null;
    do {
      const page: { status: number; body: { items: Array<{ tenantId: string; channel: string; recipient: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/suppressions?${q({ tenantId: 't1', limit: '2', ...(cursor ? { cursor } : {}) })}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      expect(page.body.items.every((s) => s.tenantId === 't1')).toBe(true);
      seen.push(...page.body.items.map((s) => `${s.channel} ${s.recipient}`));
      cursor = page.body.nextCursor;
      firstCursor ??= cursor;
    } while (cursor);
    const expected = (
      await fixture.sql<{ key: string }>(`SELECT channel || ' ' || recipient AS key FROM suppressions WHERE tenant_id = 't1' ORDER BY channel, recipient`)
    ).map((r) => r.key);
    expect(expected).toHaveLength(7);
    expect(seen).toEqual(expected);
    const sms = await call('GET', `/v1/suppressions?${q({ tenantId: 't1', channel: 'sms' })}`);
    expect(sms.body).toMatchObject({ items: [{ recipient: '+4915100000001' }, { recipient: '+4915100000002' }], nextCursor: null });

    const before = await stored();
    const refusals: Array<[string, string, unknown, number, string | undefined]> = [
      ['PUT', '/v1/suppressions', { tenantId: 't1', channel: 'fax', recipient: 'x' }, 400, 'channel'],
      ['PUT', '/v1/suppressions', { tenantId: 't1', channel: 'email', recipient: ' ' }, 400, 'recipient'],
      ['PUT', '/v1/suppressions', { tenantId: 'nobody', channel: 'email', recipient: 'x@example.com' }, 400, 'tenantId'],
      ['PUT', '/v1/suppressions', { tenantId: 't1', channel: 'email', recipient: 'x@example.com', until: 'never' }, 400, 'until'],
      ['DELETE', `/v1/suppressions?${q({ tenantId: 't1', channel: 'email' })}`, undefined, 400, 'recipient'],
      ['DELETE', `/v1/suppressions?${q({ tenantId: 't1', channel: 'email', recipient: 'nobody@example.com' })}`, undefined, 404, undefined],
      ['GET', `/v1/suppressions?${q({ channel: 'email' })}`, undefined, 400, 'tenantId'],
      ['GET', `/v1/suppressions?${q({ tenantId: 't1', cursor: 'bm90LWEtY3Vyc29y' })}`, undefined, 400, 'cursor'],
      ['GET', `/v1/suppressions?${q({ tenantId: 't1', limit: '1001' })}`, undefined, 400, 'limit'],
    ];
    for (const [method, path, body, status, field] of refusals) {
      const answer = await call(method, path, body);
      expect({ method, path, status: answer.status }).toEqual({ method, path, status });
      if (field) expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    }
    // A cursor of this list is not one of another list's.
    const elsewhere = await call('GET', `/v1/messages?${q({ tenantId: 't1', cursor: firstCursor! })}`);
    expect(elsewhere).toMatchObject({ status: 400, body: { errors: [{ field: 'cursor' }] } });
    expect(await stored()).toBe(before);

    const lifted = await call('DELETE', `/v1/suppressions?${q({ tenantId: 't1', channel: 'email', recipient: 'ann@example.com' })}`);
    expect(lifted.status).toBe(204);
    expect((await call('DELETE', `/v1/suppressions?${q({ tenantId: 't1', channel: 'email', recipient: 'ann@example.com' })}`)).status).toBe(404);
    expect(await fixture.sql(`SELECT tenant_id FROM suppressions WHERE recipient = 'ann@example.com'`)).toEqual([{ tenant_id: 't2' }]);
  });

  it("skips a suppressed recipient's message when it is due", async () => {
    // 'crm' on the webhook channel of t1 was opted out above.
    const created = await call('POST', '/v1/messages', {
      messages: [
        { tenantId: 't1', channel: 'webhook', recipient: 'crm', scheduledAt: new Date(Date.now() + 300).toISOString(), template: 'Hi', idempotencyKey: 's-1' },
      ],
    });
    expect(created.status).toBe(201);
    const skipped = await waitFor('s-1 skipped', async () => {
      const m = (await call('GET', `/v1/messages/${created.body.ids[0]}`)).body;
      return m.status === 'skipped' ? m : undefined;
    });
    expect(skipped.skipReason).toBe('suppressed');
    expect(sink.deliveries).toHaveLength(0);
  });

  it('applies the auto follow-up rule once per lead, and names bad report fields', async () => {
    const hot = await call('POST', '/v1/auto-follow-ups', { tenantId: 't2', leadId: 'lead-hot', predProb: 0.93, variables: { name: 'Ann' } });
    expect(hot).toMatchObject({ status: 200, body: { triggered: true, delaysSeconds: [1800, 7200], scheduled: 2, duplicates: 0 } });
    const again = await call('POST', '/v1/auto-follow-ups', { tenantId: 't2', leadId: 'lead-hot', predProb: 0.95 });
    expect(again.body).toMatchObject({ triggered: true, scheduled: 0, duplicates: 2 });
    expect((await call('POST', '/v1/auto-follow-ups', { tenantId: 't2', leadId: 'lead-cold', predProb: 0.2 })).body).toEqual({
      triggered: false,
      reason: 'below_threshold',
      threshold: 0.8,
    });
    const messages = await call('GET', '/v1/messages?tenantId=t2');
    expect(messages.body.items.map((m: { idempotencyKey: string; channel: string; recipient: string }) => [m.idempotencyKey, m.channel, m.recipient])).toEqual([
      ['auto-followup:t2:lead-hot:1800s', 'webhook', 'crm'],
      ['auto-followup:t2:lead-hot:7200s', 'webhook', 'crm'],
    ]);

    const before = await stored();
    const refusals: Array<[unknown, string]> = [
      [{ tenantId: 't2', leadId: 'lead-x', predProb: 1.5 }, 'predProb'],
      [{ tenantId: 't2', leadId: 'lead-x', predProb: '0.9' }, 'predProb'],
      [{ tenantId: 't2', predProb: 0.9 }, 'leadId'],
      [{ tenantId: 'nobody', leadId: 'lead-x', predProb: 0.9 }, 'tenantId'],
      [{ tenantId: 't2', leadId: 'lead-x', predProb: 0.9, channel: 'pigeon' }, 'channel'],
      [{ tenantId: 't2', leadId: 'lead-x', predProb: 0.9, channel: 'email', recipient: 'not-an-address' }, 'recipient'],
      [{ tenantId: 't2', leadId: 'lead-x', predProb: 0.9, score: 3 }, 'score'],
    ];
    for (const [body, field] of refusals) {
      const answer = await call('POST', '/v1/auto-follow-ups', body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    }
    expect(await stored()).toBe(before);
  });

  it('counts the queue as numbers that match the outbox, and reports the dispatchers running', async () => {
    const queue = await call('GET', '/v1/queue');
    expect(queue.status).toBe(200);
    const counts = await fixture.sql<{ status: string; n: number; due_now: number }>(
      `SELECT status, count(*)::int AS n, count(*) FILTER (WHERE status = 'scheduled' AND due_at <= now())::int AS due_now FROM scheduled_messages GROUP BY status`,
    );
    const scheduled = counts.find((c) => c.status === 'scheduled')?.n ?? 0;
    expect(scheduled).toBeGreaterThanOrEqual(2);
    expect(queue.body).toMatchObject({ enabled: true, byStatus: Object.fromEntries(counts.map((c) => [c.status, c.n])) });
    expect(queue.body.dueNow + queue.body.scheduledLater).toBe(scheduled);
    expect(Object.values(queue.body.byStatus).every((n) => typeof n === 'number')).toBe(true);
    expect((await call('GET', '/v1/queue?tenant=t1')).body).toMatchObject({ errors: [{ field: 'tenant' }] });

    const health = await waitFor('the dispatcher running', async () => {
      const answer = await call('GET', '/v1/worker');
      return answer.body.status === 'running' ? answer : undefined;
    });
    expect(health).toMatchObject({ status: 200, body: { ok: true, status: 'running' } });
    expect(Date.parse(health.body.checkedAt)).toBeGreaterThanOrEqual(Date.parse(health.body.lastTick));
    expect((await call('GET', '/v1/worker?verbose=1')).status).toBe(400);
  });
});
