import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../fakes/otlp-receiver';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'test-api-key-traces-0123456789';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** A caller's span: what a CRM that traces its own request would send as traceparent. */
const callerSpan = () => ({ traceId: hex(16), spanId: hex(8) });
const traceparentOf = (s: { traceId: string; spanId: string }) => `00-${s.traceId}-${s.spanId}-01`;

/**
 * Traces over OTLP/HTTP to a receiver in the test tree (no OpenTelemetry Collector runs here):
 * a worker process with OTEL_EXPORTER_OTLP_ENDPOINT exports a span per tick and per send, and a
 * message scheduled with a traceparent (API header, API field, SQL function) is sent in a span that
 * is the child of the caller's span. No span carries a recipient's address.
 */
describe('traces of ticks and sends', () => {
  const workers: WorkerProcess[] = [];
  let db: TestDatabase;
  let receiver: OtlpReceiver;
  let worker: WorkerProcess;
  let app: Client;

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };
  const soon = () => new Date(Date.now() + 1_000).toISOString();
  const sendSpanOf = (id: string) =>
    waitFor(`the send span of message ${id}`, () => receiver.spans.find((s) => s.name === 'crm_worker.send' && s.attributes['crm_worker.message.id'] === id));

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    db = await createTestDatabase();
    worker = spawnWorker('traces', {
      DATABASE_URL: db.url,
      API_KEY,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'crm-worker-under-test',
      TRIAL_EXPIRATION_CRON: '* * * * * *',
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    app = new Client({ connectionString: db.url });
    await app.connect();
    await app.query(`INSERT INTO crm_worker.tenants (id, name) VALUES ('t1', 'Tenant one')`);
  });
  afterAll(async () => {
    await app?.end();
    await killAll(workers);
    await receiver?.close();
    await db?.drop();
  });

  it('a send scheduled with a traceparent (header, field or SQL) is the child of the caller span', async () => {
    const byHeader = callerSpan();
    const byField = callerSpan();
    const bySql = callerSpan();
    const header = await post(
      '/api/followups',
      {
        tenantId: 't1',
        channel: 'email',
        recipient: 'ann@example.com',
        scheduledAt: soon(),
        subject: 'Hi',
        template: 'Hi Ann',
        idempotencyKey: 'trace-header',
      },
      { traceparent: traceparentOf(byHeader) },
    );
    expect(header.status).toBe(201);
    const field = await post('/api/v1/messages', {
      messages: [
        {
          tenantId: 't1',
          channel: 'sms',
          recipient: '+14155550123',
          scheduledAt: soon(),
          template: 'Hi',
          idempotencyKey: 'trace-field',
          traceparent: traceparentOf(byField),
        },
      ],
    });
    expect(field.status).toBe(201);
    const sql = await app.query<{ message_id: string }>(
      `SELECT message_id::text FROM crm_worker.schedule_message(tenant_id => 't1', channel => 'email', recipient => 'bob@example.com',
         scheduled_at => now() + interval '1 second', template => 'Hi Bob', idempotency_key => 'trace-sql', traceparent => $1)`,
      [traceparentOf(bySql)],
    );
    const untraced = await post('/api/followups', {
      tenantId: 't1',
      channel: 'email',
      recipient: 'cy@example.com',
      scheduledAt: soon(),
      template: 'Hi',
      idempotencyKey: 'trace-none',
    });

    const cases: Array<[string, { traceId: string; spanId: string }, string]> = [
      [header.json['ids'][0], byHeader, 'email'],
      [field.json['ids'][0], byField, 'sms'],
      [sql.rows[0]!.message_id, bySql, 'email'],
    ];
    for (const [id, caller, channel] of cases) {
      const span = await sendSpanOf(id);
      expect({ traceId: span.traceId, parentSpanId: span.parentSpanId }).toEqual({ traceId: caller.traceId, parentSpanId: caller.spanId });
      expect(span.attributes).toEqual(
        expect.objectContaining({ 'crm_worker.message.id': id, 'crm_worker.channel': channel, 'crm_worker.tenant.id': 't1', 'crm_worker.result': 'sent' }),
      );
      expect(span.resource['service.name']).toBe('crm-worker-under-test');
    }
    // Without a traceparent the send starts a trace of its own.
    const own = await sendSpanOf(untraced.json['ids'][0]);
    expect(own.parentSpanId).toBeUndefined();
    expect(cases.map(([, caller]) => caller.traceId)).not.toContain(own.traceId);
  });

  it('a span per tick, a root of its own trace, with the job and its outcome', async () => {
    const tick = await waitFor('a trial-expiration tick span', () =>
      receiver.spans.find(
        (s) => s.name === 'crm_worker.tick' && s.attributes['crm_worker.job'] === 'trial-expiration' && s.attributes['crm_worker.outcome'] === 'succeeded',
      ),
    );
    expect(tick.parentSpanId).toBeUndefined();
    expect(tick.attributes).toEqual(
      expect.objectContaining({ 'crm_worker.fire_time': expect.stringMatching(/^\d{4}-/), 'crm_worker.run_id': expect.any(String) }),
    );
  });

  it('no exported span or resource carries a recipient address or phone number', async () => {
    await waitFor('the sends of the first test', () => receiver.spans.filter((s: ReceivedSpan) => s.name === 'crm_worker.send').length >= 4);
    const exported = receiver.rawBodies.join('\n');
    for (const address of ['ann@example.com', 'bob@example.com', 'cy@example.com', '+14155550123', '4155550123']) expect(exported).not.toContain(address);
  });

  it('a bad traceparent is refused with 400 naming it (header, field) or 22023 (SQL), and nothing is stored', async () => {
    const base = { tenantId: 't1', channel: 'email', recipient: 'dee@example.com', scheduledAt: soon(), template: 'Hi' };
    const badHeader = await post('/api/followups', { ...base, idempotencyKey: 'bad-header' }, { traceparent: 'not-a-traceparent' });
    expect(badHeader.status).toBe(400);
    expect(badHeader.json['field']).toBe('traceparent');
    const zeroTrace = await post('/api/followups', { ...base, idempotencyKey: 'bad-zero', traceparent: `00-${'0'.repeat(32)}-${hex(8)}-01` });
    expect(zeroTrace.status).toBe(400);
    expect(zeroTrace.json['field']).toBe('traceparent');
    const badV1 = await post('/api/v1/messages', { messages: [{ ...base, idempotencyKey: 'bad-v1' }] }, { traceparent: `ff-${hex(16)}-${hex(8)}-01` });
    expect(badV1.status).toBe(400);
    expect(JSON.stringify(badV1.json)).toContain('traceparent');
    const sqlError = await app
      .query(
        `SELECT * FROM crm_worker.schedule_message(tenant_id => 't1', channel => 'email', recipient => 'dee@example.com',
           scheduled_at => now(), template => 'Hi', idempotency_key => 'bad-sql', traceparent => 'nope')`,
      )
      .then(
        () => undefined,
        (err: { code?: string; column?: string }) => ({ code: err.code, column: err.column }),
      );
    expect(sqlError).toEqual({ code: '22023', column: 'traceparent' });
    const stored = await app.query(`SELECT 1 FROM crm_worker.scheduled_messages WHERE idempotency_key LIKE 'bad-%'`);
    expect(stored.rowCount).toBe(0);
  });
});
