import { WAKEUP_CHANNEL } from '../../src/delivery/outbox';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp-sink';
import { OTHER_JOBS_THAN_CAMPAIGNS_OFF } from '../support/job-env';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'hostile-templates-key-0123456789';

/** Heavy only with real numbers: the loop bounds are contact attributes (absent at creation) or a time. */
const NESTED = (bound: string) => `{% for a in (1..${bound}) %}{% for b in (1..${bound}) %}xxxxxxxxxx{% endfor %}{% endfor %}`;

/**
 * The hostile-template corpus: each either refused at scheduling (400 naming `template`) or, if it
 * got into the outbox anyway, failed alone at send time. Nothing may read a file, and nothing
 * may hang or crash the worker.
 */
const CORPUS: Record<string, string> = {
  'include package.json': "{% include 'package.json' %}",
  'render package.json': "{% render 'package.json' %}",
  'layout package.json': "{% layout 'package.json' %}x",
  'include dist/main.js': "{% include 'dist/main.js' %}",
  'include a data file by a relative path': "{% include '../../data/pglite/PG_VERSION' %}",
  'nested loops': NESTED('3000'),
  'three nested loops': '{% for a in (1..1000) %}{% for b in (1..1000) %}{% for c in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}',
  'a huge loop': '{% for a in (1..1000000000) %}x{% endfor %}',
  'exponential concat': "{% assign a = 'x' | split: '' %}{% for i in (1..64) %}{% assign a = a | concat: a %}{% endfor %}{{ a | size }}",
  'exponential append': "{% assign s = 'xx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
  'a huge date padding': "{{ 'now' | date: '%999999999d' }}",
};

/**
 * A real worker process (dist/main.js) against real PostgreSQL, Redis and an SMTP server, fed the
 * corpus through the API, through outbox rows written before the sandbox existed, through a
 * template that is heavy only after a time, and through a campaign whose template is heavy only
 * with its recipients' attributes. /health/live is polled all along.
 */
describe('hostile templates in a running worker', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let smtp: SmtpSink;
  const live = { answered: 0, failures: [] as string[], stop: false, loop: Promise.resolve() };
  const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, text, body: JSON.parse(text) as any };
  };
  const followup = (key: string, template: string, scheduledAt = new Date()) => ({
    tenantId: 't1',
    channel: 'log',
    recipient: 'ops',
    scheduledAt: scheduledAt.toISOString(),
    template,
    idempotencyKey: key,
  });

  beforeAll(async () => {
    smtp = await startSmtpSink();
    worker = fixture.spawn('hostile-templates', {
      ...fixture.serviceEnv('tpl:'),
      ...OTHER_JOBS_THAN_CAMPAIGNS_OFF,
      LOG_LEVEL: 'info',
      API_KEY,
      CAMPAIGN_CRON: '* * * * * *',
      CAMPAIGN_BATCH_DELAY: '0',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      EMAIL_FROM: 'crm@example.test',
    });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status) VALUES ('t1', 'T1', 'active')`);
    // /health/live all along: every probe must be answered (the timeout only stops a hung probe).
    live.loop = (async () => {
      while (!live.stop) {
        try {
          const response = await fetch(`http://127.0.0.1:${worker.port()}/health/live`, { signal: AbortSignal.timeout(5_000) });
          if (response.status === 200) live.answered++;
          else live.failures.push(`status ${response.status}`);
        } catch (err) {
          live.failures.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  });

  afterAll(async () => {
    live.stop = true;
    await live.loop;
    await smtp?.close();
  });

  it('at scheduling every corpus template is a 400 naming template; no file content comes back; nothing is stored', async () => {
    for (const [name, template] of Object.entries(CORPUS)) {
      const response = await api('POST', '/followups', followup(`api:${name}`, template));
      expect({ name, status: response.status }).toEqual({ name, status: 400 });
      expect(response.body.issues.map((i: { field: string }) => i.field)).toContain('template');
      expect(response.text).not.toContain('crm-worker');
      expect(response.text).not.toContain('use strict');

      const campaign = await api('POST', '/campaigns', {
        tenantId: 't1',
        name,
        channel: 'email',
        subject: 'Hello',
        template,
        sendAt: new Date().toISOString(),
        listId: 'none',
      });
      expect({ name, status: campaign.status }).toEqual({ name, status: 400 });
      expect(campaign.body.error).toMatch(/template/);
    }
    // A whole batch of hostile templates is refused as one 400 too.
    const batch = await api('POST', '/followups', { messages: Object.values(CORPUS).map((t, i) => followup(`api:batch:${i}`, t)) });
    expect(batch.status).toBe(400);
    expect(await sql(`SELECT id FROM scheduled_messages WHERE idempotency_key LIKE 'api:%'`)).toEqual([]);
  });

  it('at send time each stored hostile template fails alone: failed once, reason recorded, counted; a good message is sent; no retry', async () => {
    // Rows written before the sandbox existed (or by a CRM module straight to the outbox).
    const names = Object.keys(CORPUS);
    for (const name of names) {
      await sql(
        `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, idempotency_key)
         VALUES ('t1', 'log', 'ops', now(), now(), $1, $2)`,
        [CORPUS[name], `stored:${name}`],
      );
    }
    // Cheap when it is checked (before its time), heavy at its time.
    const sendAt = new Date(Math.ceil((Date.now() + 3_000) / 1000) * 1000);
    const heavyLater = `{% assign now = 'now' | date: '%s' | plus: 0 %}{% if now >= ${sendAt.getTime() / 1000} %}${NESTED('3000')}{% endif %}ok`;
    const accepted = await api('POST', '/followups', followup('later:heavy', heavyLater, sendAt));
    expect(accepted.status).toBe(201);
    const good = await api('POST', '/followups', { ...followup('later:good', 'Hi {{ name }}', sendAt), variables: { name: 'Ada' } });
    expect(good.status).toBe(201);
    // Kick the dispatcher for the rows inserted without their wake-up.
    await sql(`SELECT pg_notify($1, '0')`, [WAKEUP_CHANNEL]);

    const keys = [...names.map((n) => `stored:${n}`), 'later:heavy'];
    const rows = await waitFor('every hostile row final and the good one sent', async () => {
      const found = await sql<{ idempotency_key: string; status: string; attempts: number; last_error: string | null }>(
        `SELECT idempotency_key, status, attempts, last_error FROM scheduled_messages WHERE idempotency_key = ANY($1) OR idempotency_key = 'later:good'`,
        [keys],
      );
      const settled = found.filter((r) => !['scheduled', 'claimed', 'sending'].includes(r.status));
      return settled.length === keys.length + 1 ? found : undefined;
    });
    for (const row of rows.filter((r) => r.idempotency_key !== 'later:good')) {
      expect({ key: row.idempotency_key, status: row.status, attempts: row.attempts }).toEqual({ key: row.idempotency_key, status: 'failed', attempts: 1 });
      expect(row.last_error).toMatch(/^template not rendered: template: .*(limit|not available)/);
    }
    expect(rows.find((r) => r.idempotency_key === 'later:heavy')!.last_error).toMatch(/limit/);
    expect(rows.find((r) => r.idempotency_key === 'later:good')!.status).toBe('sent');

    const metrics = await worker.get('/metrics', { accept: 'text/plain' });
    const counted = (reason: string) =>
      Number(new RegExp(`crm_worker_delivery_template_failures_total\\{reason="${reason}"\\} (\\d+)`).exec(metrics.body)?.[1] ?? 0);
    expect(counted('forbidden-tag')).toBe(5);
    expect(counted('limit')).toBe(names.length - 5 + 1);

    // No retry loop: a later look finds the same single attempt.
    await sql(`SELECT pg_notify($1, '0')`, [WAKEUP_CHANNEL]);
    const again = await sql<{ attempts: number; status: string }>(`SELECT attempts, status FROM scheduled_messages WHERE idempotency_key = ANY($1)`, [keys]);
    expect(again.every((r) => r.attempts === 1 && r.status === 'failed')).toBe(true);
  });

  it("a campaign whose template is heavy only with its recipients' attributes fails message by message and ends failed, not sent", async () => {
    await sql(`INSERT INTO contacts (id, tenant_id, name, email, attributes)
               SELECT 'h' || g, 't1', 'Heavy ' || g, 'h' || g || '@t1.test', '{"loops": 3000}'::jsonb FROM generate_series(1, 3) g`);
    await sql(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('heavy', 't1', 'Heavy')`);
    await sql(`INSERT INTO contact_list_members (list_id, contact_id) SELECT 'heavy', id FROM contacts WHERE id LIKE 'h%'`);
    // contact.loops is a contact attribute: unknown when the campaign is created, so accepted.
    const created = await api('POST', '/campaigns', {
      tenantId: 't1',
      name: 'Heavy later',
      channel: 'email',
      subject: 'Hi {{ contact.name }}',
      template: `Hi {{ contact.name }} ${NESTED('contact.loops')}`,
      sendAt: new Date().toISOString(),
      listId: 'heavy',
    });
    expect(created.status).toBe(201);
    const campaign = await waitFor('the campaign to finish', async () => {
      const found = await api('GET', `/campaigns/${created.body.id}`);
      return ['sent', 'failed'].includes(found.body.status) ? found.body : undefined;
    });
    expect(campaign).toMatchObject({ status: 'failed', sent: 0, failed: 3 });
    const messages = await sql<{ status: string; last_error: string }>(`SELECT status, last_error FROM scheduled_messages WHERE idempotency_key LIKE $1`, [
      `campaign:${created.body.id}:%`,
    ]);
    expect(messages).toHaveLength(3);
    expect(messages.every((m) => m.status === 'failed' && /limit/.test(m.last_error))).toBe(true);
    expect(smtp.received).toHaveLength(0);
  });

  it('the worker answered /health/live throughout and never exited', async () => {
    expect(live.failures).toEqual([]);
    expect(live.answered).toBeGreaterThan(0);
    expect(worker.child.exitCode).toBeNull();
    expect(worker.child.signalCode).toBeNull();
    expect(worker.logs.filter((l) => /uncaught|unhandled/i.test(String(l.message)))).toEqual([]);
  });
});
