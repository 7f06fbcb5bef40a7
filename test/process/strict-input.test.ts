import fc from 'fast-check';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'strict-input-test-key';

/**
 * Every time field of every /api route on a real worker process, fed values that are not an
 * instant (null, true, 0, free text, no offset, impossible dates, out-of-range years; hand-written
 * and fast-check generated): each is a 400 naming the field, and nothing stored changes. Then the
 * same for calendar dates, unknown fields, NUL bytes, lone surrogates and prototype-shaped keys.
 */
describe('strict input on every route', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let appointmentId: string;
  const messageKey = `strict-msg-${Date.now()}`;
  /** A year that is always ahead of the machine's clock, so "a valid time" never depends on today. */
  const year = new Date().getUTCFullYear() + 1;
  const future = () => new Date(Date.now() + 86_400_000).toISOString();

  const sql = <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as { error?: string; field?: string } | undefined };
  };
  /** Every row of every table the API can write, so any insert, update or delete shows. */
  const snapshot = () =>
    withClient(fixture.db.url, async (c) => {
      const tables = await c.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
            AND table_name NOT IN ('job_runs', 'job_leases', 'delivery_heartbeats', 'schema_migrations')
          ORDER BY table_name`,
      );
      const parts: string[] = [];
      for (const { name } of tables.rows) {
        const digest = await c.query<{ n: string; digest: string | null }>(
          `SELECT count(*)::text AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM "${name}" t`,
        );
        parts.push(`${name}:${digest.rows[0]!.n}:${digest.rows[0]!.digest}`);
      }
      return parts.join('\n');
    });

  beforeAll(async () => {
    worker = fixture.spawn('strict-input', { ...fixture.serviceEnv(), API_KEY, JOBS_ENABLED: 'false', LOG_LEVEL: 'info' });
    await waitUntilStarted(worker);
    await sql(`INSERT INTO tenants (id, name, status, timezone) VALUES ('t1', 'T1', 'active', 'UTC')`);
    await sql(`INSERT INTO contacts (id, tenant_id, name, email, phone) VALUES ('c001', 't1', 'Ann', 'ann@t1.test', '+15550000001')`);
    await sql(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('all', 't1', 'All')`);
    await sql(`INSERT INTO contact_list_members (list_id, contact_id) VALUES ('all', 'c001')`);
    const appointment = await api('POST', '/appointments', {
      tenantId: 't1',
      contactId: 'c001',
      startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
    });
    expect(appointment.status).toBe(201);
    appointmentId = (appointment.body as { id: string }).id;
    const message = await api('POST', '/followups', followup({ idempotencyKey: messageKey }));
    expect(message.status).toBe(201);
    const settings = await api('PUT', '/call-settings/t1', { hours: { monday: [{ opens: '09:00', closes: '17:00' }] }, holidays: [`${year}-01-01`] });
    expect(settings.status).toBe(200);
  });

  function followup(overrides: Record<string, unknown> = {}) {
    return {
      tenantId: 't1',
      contactId: 'c001',
      channel: 'log',
      recipient: 'ann',
      scheduledAt: future(),
      template: 'Hi {{ name }}',
      variables: { name: 'Ann' },
      idempotencyKey: `strict-${Math.random().toString(36).slice(2)}`,
      ...overrides,
    };
  }

  /** Each time field of each route: how to send `value` in it, and the field name the 400 must carry. */
  const timeFields: Array<{ route: string; field: string; send: (value: unknown) => Promise<Awaited<ReturnType<typeof api>>> }> = [
    { route: 'POST /followups', field: 'scheduledAt', send: (v) => api('POST', '/followups', followup({ scheduledAt: v })) },
    {
      route: 'POST /followups (batch)',
      field: 'messages[1].scheduledAt',
      send: (v) => api('POST', '/followups', { messages: [followup(), followup({ scheduledAt: v })] }),
    },
    {
      route: 'POST /followups/reschedule',
      field: 'scheduledAt',
      send: (v) => api('POST', '/followups/reschedule', { idempotencyKey: messageKey, scheduledAt: v }),
    },
    {
      route: 'POST /followups/responses',
      field: 'receivedAt',
      send: (v) => api('POST', '/followups/responses', { idempotencyKey: messageKey, text: 'yes', receivedAt: v }),
    },
    {
      route: 'POST /campaigns',
      field: 'sendAt',
      send: (v) => api('POST', '/campaigns', { tenantId: 't1', name: 'Launch', channel: 'email', subject: 'News', template: 'Hi', sendAt: v, listId: 'all' }),
    },
    { route: 'POST /appointments', field: 'startsAt', send: (v) => api('POST', '/appointments', { tenantId: 't1', contactId: 'c001', startsAt: v }) },
    { route: 'PATCH /appointments/:id', field: 'startsAt', send: (v) => api('PATCH', `/appointments/${appointmentId}`, { startsAt: v }) },
    { route: 'POST /contacts/:id/replies', field: 'at', send: (v) => api('POST', '/contacts/c001/replies', { at: v }) },
    {
      route: 'POST /invoices',
      field: 'dueAt',
      send: (v) => api('POST', '/invoices', { tenantId: 't1', contactId: 'c001', amountCents: 100, dueAt: v, paymentLink: 'https://pay.example/1' }),
    },
    { route: 'POST /calls', field: 'notBefore', send: (v) => api('POST', '/calls', { tenantId: 't1', phone: '+15550000001', notBefore: v }) },
  ];

  /** Not an instant with an offset, each for its own reason. */
  const badInstants: unknown[] = [
    null,
    true,
    false,
    0,
    1,
    Date.now() + 3_600_000,
    '',
    ' ',
    'now',
    'tomorrow',
    'next monday 9am',
    String(Date.now()),
    `Tue, 15 Jun ${year} 10:00:00 GMT`,
    `${year}-06-15`,
    `${year}-06-15T10:00:00`,
    `${year}-06-15 10:00:00Z`,
    `${year}-02-30T10:00:00Z`,
    `${year}-04-31T10:00:00+02:00`,
    `${year}-13-01T10:00:00Z`,
    `${year}-00-10T10:00:00Z`,
    `${year}-06-15T24:00:00Z`,
    `${year}-06-15T10:60:00Z`,
    `${year}-06-15T10:00:61Z`,
    `${year}-06-15T10:00:00+25:00`,
    `${year}-06-15T10:00:00+02:75`,
    '+275760-09-13T00:00:00Z',
    '+275761-01-01T00:00:00Z',
    '10000-01-01T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '1969-12-31T23:59:59Z',
    `${year}-06-15T10:00:00Z\u0000`,
    `${year}-06-15T10:00:00Z\ud800`,
    {},
    [],
    [`${year}-06-15T10:00:00Z`],
    { iso: `${year}-06-15T10:00:00Z` },
  ];

  /** fast-check: any JSON value that is not a string, or a string that cannot be an instant. */
  const generatedBadInstant = fc.oneof(
    fc.jsonValue().filter((v) => typeof v !== 'string'),
    fc.string().filter((s) => !/^\d{4}-\d{2}-\d{2}T/.test(s)),
    // Impossible calendar days and clock times in an otherwise well-formed instant.
    fc
      .oneof(
        fc.record({ month: fc.constant(2), day: fc.integer({ min: 30, max: 31 }), hour: fc.integer({ min: 0, max: 23 }) }),
        fc.record({ month: fc.constantFrom(4, 6, 9, 11), day: fc.constant(31), hour: fc.integer({ min: 0, max: 23 }) }),
        fc.record({ month: fc.integer({ min: 13, max: 99 }), day: fc.integer({ min: 1, max: 28 }), hour: fc.integer({ min: 0, max: 23 }) }),
        fc.record({ month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 32, max: 99 }), hour: fc.integer({ min: 0, max: 23 }) }),
        fc.record({ month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 28 }), hour: fc.integer({ min: 24, max: 99 }) }),
      )
      .map(({ month, day, hour }) => `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00Z`),
  );

  it.each(timeFields.map((t) => [t.route, t] as const))('%s refuses every value that is not an instant, naming the field', async (_route, target) => {
    const before = await snapshot();
    for (const value of badInstants) {
      const response = await target.send(value);
      expect({ value, status: response.status }).toEqual({ value, status: 400 });
      expect({ value, error: response.body?.error }).toEqual({ value, error: expect.stringContaining(target.field) });
    }
    await fc.assert(
      fc.asyncProperty(generatedBadInstant, async (value) => {
        const response = await target.send(value);
        expect({ value, status: response.status }).toEqual({ value, status: 400 });
        expect(response.body?.error).toContain(target.field);
      }),
      { numRuns: 25 },
    );
    expect(await snapshot()).toBe(before);
  });

  it('a campaign with sendAt null is refused, not sent at once as 1970', async () => {
    const response = await api('POST', '/campaigns', {
      tenantId: 't1',
      name: 'Null',
      channel: 'email',
      subject: 'S',
      template: 'Hi',
      sendAt: null,
      listId: 'all',
    });
    expect(response.status).toBe(400);
    expect(response.body?.error).toMatch(/sendAt/);
    expect(await sql(`SELECT id FROM campaigns WHERE name = 'Null'`)).toEqual([]);
  });

  it('instants with an offset are accepted, and the documented timezone form of POST /followups still works', async () => {
    const at = new Date(Date.now() + 2 * 86_400_000);
    const kolkata = new Date(at.getTime() + 5.5 * 3_600_000).toISOString().replace(/\.\d+Z$/, '+05:30');
    const campaign = await api('POST', '/campaigns', {
      tenantId: 't1',
      name: 'Ok',
      channel: 'email',
      subject: 'S',
      template: 'Hi',
      sendAt: kolkata,
      listId: 'all',
    });
    expect(campaign.status).toBe(201);
    const [row] = await sql<{ send_at: Date }>(`SELECT send_at FROM campaigns WHERE name = 'Ok'`);
    expect(new Date(row!.send_at).getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);

    const local = await api('POST', '/followups', followup({ scheduledAt: `${year}-01-15T09:00`, timezone: 'Europe/Berlin' }));
    expect(local.status).toBe(201);
    const impossibleLocal = await api('POST', '/followups', followup({ scheduledAt: `${year}-02-30T09:00`, timezone: 'Europe/Berlin' }));
    expect(impossibleLocal.status).toBe(400);
    expect(impossibleLocal.body?.error).toMatch(/scheduledAt/);
  });

  it('calendar dates (KPI dates, holidays) must be dates that exist', async () => {
    const before = await snapshot();
    const badDates = [
      `${year}-02-30`,
      `${year}-02-29`.replace(String(year), String(year % 4 === 0 ? year + 1 : year)),
      `${year}-13-01`,
      `${year}-04-31`,
      `${year}-00-01`,
      `${year}-1-5`,
      '0000-01-01',
      '10000-01-01',
      'today',
      `${year}-06-15T00:00:00Z`,
    ];
    for (const date of badDates) {
      const get = await api('GET', `/kpi-snapshots?tenantId=t1&date=${encodeURIComponent(date)}`);
      expect({ date, status: get.status, error: get.body?.error }).toEqual({ date, status: 400, error: expect.stringContaining('date') });
      const recompute = await api('POST', '/kpi-snapshots/recompute', { tenantId: 't1', date });
      expect({ date, status: recompute.status, error: recompute.body?.error }).toEqual({ date, status: 400, error: expect.stringContaining('date') });
      const holidays = await api('PUT', '/call-settings/t1', { hours: {}, holidays: [date] });
      expect({ date, status: holidays.status, error: holidays.body?.error }).toEqual({ date, status: 400, error: expect.stringContaining('holidays.0') });
    }
    for (const date of [null, 0, true, {}]) {
      const recompute = await api('POST', '/kpi-snapshots/recompute', { tenantId: 't1', date });
      expect({ date, status: recompute.status }).toEqual({ date, status: 400 });
    }
    expect(await snapshot()).toBe(before);
  });

  it('unknown fields are refused on every route that takes a body or query', async () => {
    const before = await snapshot();
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/followups', { ...followup(), sendAt: future() }, 'sendAt'],
      ['POST', '/followups', { messages: [followup()], tenantld: 't1' }, 'tenantld'],
      ['POST', '/followups/cancel', { idempotencyKeys: [messageKey], tenant: 't1' }, 'tenant'],
      ['POST', '/followups/reschedule', { idempotencyKey: messageKey, scheduledAt: future(), when: 'now' }, 'when'],
      ['POST', '/followups/responses', { idempotencyKey: messageKey, text: 'yes', extra: 1 }, 'extra'],
      ['POST', '/followups/mark-sent', { idempotencyKey: messageKey, by: 'me' }, 'by'],
      ['POST', '/followups/auto', { tenantId: 't1', leadId: 'l1', predProb: 0.99, score: 1 }, 'score'],
      ['POST', '/delivery/redrive', { status: 'dead', tenantld: 't1' }, 'tenantld'],
      ['POST', '/delivery/unknown/1/resolve', { outcome: 'sent', note: 'x' }, 'note'],
      ['POST', '/delivery/suppressions', { tenantId: 't1', channel: 'email', recipient: 'a@b.test', until: 'x' }, 'until'],
      ['GET', '/followups/pending?tenantld=t1', undefined, 'tenantld'],
      ['GET', '/followups/contact/c001?tenantId=t1&sort=asc', undefined, 'sort'],
      ['GET', '/delivery/messages?status=dead&tenant=t1', undefined, 'tenant'],
      ['GET', '/kpi-snapshots?tenantId=t1&date=2026-01-01&x=1', undefined, 'x'],
      ['GET', '/jobs/campaign-scheduler/runs?limit=5&x=1', undefined, 'x'],
      [
        'POST',
        '/campaigns',
        { tenantId: 't1', name: 'x', channel: 'email', subject: 's', template: 'x', sendAt: future(), listId: 'all', when: 'now' },
        'when',
      ],
      ['POST', '/calls', { tenantId: 't1', phone: '+15550000001', at: future() }, 'at'],
      // Routes that take no body refuse one with fields rather than ignore it.
      ['POST', '/campaigns/nosuch/pause', { reason: 'x' }, 'reason'],
      ['POST', `/appointments/${appointmentId}/cancel`, { notify: false }, 'notify'],
      ['POST', '/leads/l1/convert', { at: future() }, 'at'],
      ['POST', '/invoices/i1/paid', { paidAt: future() }, 'paidAt'],
      ['POST', '/calls/1/cancel', { reason: 'x' }, 'reason'],
    ];
    for (const [method, path, body, field] of cases) {
      const response = await api(method, path, body);
      expect({ path, field, status: response.status }).toEqual({ path, field, status: 400 });
      expect({ path, error: response.body?.error }).toEqual({ path, error: expect.stringContaining(field) });
    }
    expect(await snapshot()).toBe(before);
  });

  it('NUL bytes, lone surrogates and prototype-shaped keys are 400s naming where they are; stored settings stay', async () => {
    const before = await snapshot();
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/followups', followup({ template: 'Hi\u0000there' }), 'template'],
      ['POST', '/followups', followup({ variables: { name: 'A\ud83d' } }), 'variables.name'],
      ['POST', '/followups', followup({ idempotencyKey: 'k\u0000' }), 'idempotencyKey'],
      ['POST', '/followups', followup({ variables: JSON.parse('{"__proto__": {"name": "x"}}') }), 'variables.__proto__'],
      ['POST', '/followups', followup({ variables: { constructor: { prototype: { x: 1 } } } }), 'variables.constructor'],
      ['POST', '/followups', { messages: [followup(), followup({ contactId: '\udc00c' })] }, 'messages[1].contactId'],
      ['POST', '/campaigns', { tenantId: 't1', name: 'N\u0000', channel: 'email', subject: 's', template: 'x', sendAt: future(), listId: 'all' }, 'name'],
      ['POST', '/contacts/c001/replies', JSON.parse('{"__proto__": {"at": "1970-01-01T00:00:00Z"}}'), '__proto__'],
      ['PUT', '/call-settings/t1', JSON.parse('{"__proto__": {"hours": {}}}'), '__proto__'],
      ['PUT', '/call-settings/t1', JSON.parse('{"hours": {"__proto__": []}, "holidays": []}'), 'hours.__proto__'],
      ['PUT', '/call-settings/t1', { hours: { prototype: [] }, holidays: [] }, 'hours.prototype'],
      ['POST', '/delivery/suppressions', { tenantId: 't1', channel: 'email', recipient: 'a\u0000@b.test' }, 'recipient'],
      ['POST', '/calls', { tenantId: 't1', phone: '+15550000001', contactId: 'c\u0000' }, 'contactId'],
      ['POST', '/followups', { ...followup(), ['bad\u0000key']: 1 }, 'body'],
      ['GET', `/followups/pending?tenantId=${encodeURIComponent('t\u0000')}`, undefined, 'tenantId'],
      ['GET', '/campaigns/%00', undefined, 'path'],
      ['POST', '/appointments/a%00/cancel', undefined, 'path'],
    ];
    for (const [method, path, body, field] of cases) {
      const response = await api(method, path, body);
      expect({ path, field, status: response.status }).toEqual({ path, field, status: 400 });
      expect({ path, error: response.body?.error }).toEqual({ path, error: expect.stringContaining(field) });
    }
    // Raw JSON text, so the escapes reach the server exactly as an attacker would send them.
    const raw = await api('POST', '/followups', JSON.stringify(followup()).replace('"Hi {{ name }}"', '"Hi \\u0000 \\ud800"'));
    expect(raw.status).toBe(400);
    expect(raw.body?.error).toContain('template');
    expect(await snapshot()).toBe(before);
    const settings = await api('GET', '/call-settings/t1');
    expect(JSON.stringify(settings.body)).toContain(`${year}-01-01`);
    expect(JSON.stringify(settings.body)).toContain('09:00');
  });
});
