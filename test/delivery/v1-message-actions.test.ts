import { startWebhookSink, type WebhookSink } from '../fakes/webhook-sink';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-message-actions-test-key-0123456789';

/**
 * The steps on scheduled messages under /api/v1 on a real worker process: the list's filters
 * (pending, by contact, by key) walked page by page, reschedule by key, a response, mark-sent, an
 * unknown outcome resolved, dead letters redriven and delivered; each refusal a problem naming
 * the field (400), the message (404) or its status (409), with nothing stored changed. Every
 * answer is checked against the OpenAPI document the worker serves.
 */
describe('/api/v1/messages: the steps on scheduled messages', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let sink: WebhookSink;

  beforeAll(async () => {
    sink = await startWebhookSink();
    worker = fixture.spawn('v1-message-actions', {
      ...fixture.serviceEnv(),
      JOBS_ENABLED: 'false',
      API_KEY,
      LOG_LEVEL: 'info',
      WEBHOOK_TARGETS: `crm=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    await waitUntilStarted(worker);
    expect((await call('PUT', '/v1/tenants/t1', { name: 'Tenant one', status: 'active' })).status).toBe(201);
  });
  afterAll(async () => sink?.close());

  const call = v1Client(() => worker, API_KEY);
  const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
  const message = (key: string, overrides: Record<string, unknown> = {}) => ({
    tenantId: 't1',
    channel: 'webhook',
    recipient: 'crm',
    scheduledAt: inHours(1),
    template: 'Hello',
    idempotencyKey: key,
    ...overrides,
  });
  const schedule = async (...messages: object[]): Promise<string[]> => {
    const created = await call('POST', '/v1/messages', { messages });
    expect(created.status).toBe(201);
    return created.body.ids;
  };
  const stored = async () =>
    JSON.stringify(await fixture.sql('SELECT * FROM scheduled_messages ORDER BY id')) +
    JSON.stringify(await fixture.sql('SELECT * FROM contact_replies ORDER BY id'));
  const keysOfPages = async (query: string, limit: number): Promise<string[]> => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: Array<{ idempotencyKey: string }>; nextCursor: string | null } } = await call(
        'GET',
        `/v1/messages?tenantId=t1&${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.body.items.map((m) => m.idempotencyKey));
      cursor = page.body.nextCursor;
    } while (cursor);
    return seen;
  };

  it("lists pending messages, a contact's and one key's, page by page to the end", async () => {
    await schedule(
      ...['p-1', 'p-2', 'p-3', 'p-4', 'p-5'].map((key) => message(key, { contactId: key === 'p-2' || key === 'p-4' ? 'c-ann' : 'c-bob' })),
      message('p-gone', { contactId: 'c-ann' }),
    );
    expect((await call('POST', '/v1/messages/cancel', { tenantId: 't1', idempotencyKeys: ['p-gone'] })).body).toEqual({ cancelled: 1 });

    expect(await keysOfPages('status=scheduled,claimed,sending', 2)).toEqual(['p-1', 'p-2', 'p-3', 'p-4', 'p-5']);
    expect(await keysOfPages('contactId=c-ann', 1)).toEqual(['p-2', 'p-4', 'p-gone']);
    expect(await keysOfPages('contactId=c-ann&status=cancelled', 2)).toEqual(['p-gone']);
    expect(await keysOfPages('idempotencyKey=p-3', 5)).toEqual(['p-3']);

    const badStatus = await call('GET', '/v1/messages?tenantId=t1&status=scheduled,nope');
    expect(badStatus).toMatchObject({ status: 400, body: { errors: [{ field: 'status' }] } });
    expect((await call('GET', '/v1/messages?tenantId=t1&contactId=')).body).toMatchObject({ errors: [{ field: 'contactId' }] });
  });

  it('reschedules by key: the message at its new time; 400, 404 and 409 change nothing', async () => {
    const [id] = await schedule(message('r-1'), message('r-done'));
    const later = inHours(5);
    const moved = await call('POST', '/v1/messages/reschedule', { tenantId: 't1', idempotencyKey: 'r-1', scheduledAt: later });
    expect(moved).toMatchObject({ status: 200, body: { id, status: 'scheduled', scheduledAt: later, dueAt: later } });
    // A wall time in a zone: 15 January of next year, winter time in Berlin (UTC+1).
    const nextYear = new Date().getUTCFullYear() + 1;
    const local = await call('POST', '/v1/messages/reschedule', {
      tenantId: 't1',
      idempotencyKey: 'r-1',
      scheduledAt: `${nextYear}-01-15T09:00`,
      timezone: 'Europe/Berlin',
    });
    expect(local.body.scheduledAt).toBe(`${nextYear}-01-15T08:00:00.000Z`);
    await call('POST', '/v1/messages/cancel', { tenantId: 't1', idempotencyKeys: ['r-done'] });

    const before = await stored();
    const refusals: Array<[unknown, number, string]> = [
      [{ tenantId: 't1', idempotencyKey: 'r-1', scheduledAt: `${nextYear}-01-15T09:00` }, 400, 'scheduledAt'],
      [{ tenantId: 't1', idempotencyKey: 'r-1', scheduledAt: later, timezone: 'Mars/Olympus' }, 400, 'timezone'],
      [{ idempotencyKey: 'r-1', scheduledAt: later }, 400, 'tenantId'],
      [{ tenantId: 't1', idempotencyKey: 'r-1', scheduledAt: later, when: 'now' }, 400, 'when'],
      [{ tenantId: 't1', idempotencyKey: 'r-nobody', scheduledAt: later }, 404, 'idempotencyKey'],
      [{ tenantId: 't1', idempotencyKey: 'r-done', scheduledAt: later }, 409, 'status'],
    ];
    for (const [body, status, field] of refusals) {
      const answer = await call('POST', '/v1/messages/reschedule', body);
      expect({ body, status: answer.status, type: answer.type }).toEqual({ body, status, type: expect.stringContaining('application/problem+json') });
      expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    }
    expect(await stored()).toBe(before);
  });

  it('records a response, marks sent, and refuses what the status does not allow', async () => {
    const [replied, marked] = await schedule(message('x-reply', { contactId: 'c-cy' }), message('x-mark'));
    const receivedAt = new Date(Date.now() - 60_000).toISOString();
    const response = await call('POST', `/v1/messages/${replied}/response`, { text: 'Yes please', receivedAt });
    expect(response).toMatchObject({ status: 200, body: { id: replied, responseText: 'Yes please', responseReceivedAt: receivedAt } });
    expect(await fixture.sql('SELECT contact_id, body FROM contact_replies WHERE message_id = $1', [replied])).toEqual([
      { contact_id: 'c-cy', body: 'Yes please' },
    ]);

    const sent = await call('POST', `/v1/messages/${marked}/mark-sent`, { sentBy: 'concierge' });
    expect(sent).toMatchObject({ status: 200, body: { id: marked, status: 'sent', sentBy: 'concierge' } });

    const before = await stored();
    const refusals: Array<[string, unknown, number, string | undefined]> = [
      [`/v1/messages/${replied}/response`, { text: '   ' }, 400, 'text'],
      [`/v1/messages/${replied}/response`, { text: 'hi', receivedAt: 'yesterday' }, 400, 'receivedAt'],
      [`/v1/messages/${replied}/response`, { text: 'hi', from: 'x' }, 400, 'from'],
      ['/v1/messages/abc/response', { text: 'hi' }, 400, 'id'],
      ['/v1/messages/999999999/response', { text: 'hi' }, 404, undefined],
      [`/v1/messages/${marked}/mark-sent`, {}, 409, 'status'],
      [`/v1/messages/${marked}/mark-sent`, { sentBy: '' }, 400, 'sentBy'],
      ['/v1/messages/999999999/mark-sent', {}, 404, undefined],
    ];
    for (const [path, body, status, field] of refusals) {
      const answer = await call('POST', path, body);
      expect({ path, body, status: answer.status }).toEqual({ path, body, status });
      if (field) expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    }
    expect(await stored()).toBe(before);
  });

  it('resolves unknown outcomes and redrives dead letters, which are then delivered', async () => {
    const [unknownFailed, unknownResend, dead, deadKept] = await schedule(message('u-failed'), message('u-resend'), message('d-1'), message('d-keep'));
    // The dispatcher's own way to these states is tested in test/delivery; here they are arranged.
    await fixture.sql(`UPDATE scheduled_messages SET status = 'unknown' WHERE id = ANY($1::bigint[])`, [[unknownFailed, unknownResend]]);
    await fixture.sql(`UPDATE scheduled_messages SET status = 'dead', attempts = 5, last_error = 'HTTP 500' WHERE id = ANY($1::bigint[])`, [[dead, deadKept]]);

    const before = await stored();
    const refusals: Array<[string, unknown, number, string | undefined]> = [
      [`/v1/messages/${unknownFailed}/resolve`, { outcome: 'maybe' }, 400, 'outcome'],
      [`/v1/messages/${unknownFailed}/resolve`, {}, 400, 'outcome'],
      [`/v1/messages/${dead}/resolve`, { outcome: 'sent' }, 409, 'status'],
      ['/v1/messages/999999999/resolve', { outcome: 'sent' }, 404, undefined],
      ['/v1/messages/redrive', { ids: [dead] }, 400, 'tenantId'],
      ['/v1/messages/redrive', { tenantId: 't1', status: 'sent' }, 400, 'status'],
      ['/v1/messages/redrive', { tenantId: 't1', ids: ['1; drop table'] }, 400, 'ids[0]'],
    ];
    for (const [path, body, status, field] of refusals) {
      const answer = await call('POST', path, body);
      expect({ path, body, status: answer.status }).toEqual({ path, body, status });
      if (field) expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    }
    expect(await stored()).toBe(before);

    const failed = await call('POST', `/v1/messages/${unknownFailed}/resolve`, { outcome: 'failed' });
    expect(failed).toMatchObject({ status: 200, body: { status: 'failed', resolution: 'operator: failed' } });
    expect((await call('POST', `/v1/messages/${unknownFailed}/resolve`, { outcome: 'sent' })).status).toBe(409);
    expect((await call('POST', `/v1/messages/${unknownResend}/resolve`, { outcome: 'resend' })).body).toMatchObject({ status: 'scheduled' });

    expect((await call('POST', '/v1/messages/redrive', { tenantId: 't1', ids: [dead] })).body).toEqual({ redriven: 1 });
    expect((await call('POST', '/v1/messages/redrive', { tenantId: 't1', ids: [dead] })).body).toEqual({ redriven: 0 });
    for (const id of [unknownResend, dead]) {
      await waitFor(`message ${id} sent`, async () => (await call('GET', `/v1/messages/${id}`)).body.status === 'sent');
    }
    // Only these two were ever due in this file: everything else waits hours ahead.
    expect(sink.deliveries).toHaveLength(2);
    // The dead letter not named stays dead.
    expect((await call('GET', `/v1/messages/${deadKept}`)).body).toMatchObject({ status: 'dead' });
    expect(await keysOfPages('status=dead', 1)).toEqual(['d-keep']);
  });
});
