import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'v1-actions-test-key-0123456789';

/**
 * The actions of the contract's entities (appointment cancel/outcome, invoice paid, lead convert,
 * contact replies) and /api/v1/nurture-enrollments on a real worker process: each one's effect on
 * the outbox, 400 naming the field, 404, 409, and nothing stored changed by a refused request.
 */
describe('/api/v1 actions and nurture enrolments', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;

  beforeAll(async () => {
    worker = fixture.spawn('v1-actions', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    expect((await call('PUT', '/v1/tenants/t1', { name: 'One', status: 'active' })).status).toBe(201);
    expect((await call('PUT', '/v1/contacts/c1', { tenantId: 't1', name: 'Ann', email: 'ann@example.com' })).status).toBe(201);
    expect((await call('PUT', '/v1/contacts/c2', { tenantId: 't1', name: 'Bob', email: 'bob@example.com' })).status).toBe(201);
  });

  const call = v1Client(() => worker, API_KEY);
  const sql = <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
  const waiting = async (prefix: string) =>
    (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE $1 AND status = 'scheduled'`, [`${prefix}%`]))[0]!
      .n;

  it('appointments: cancel (again changes nothing), outcome once, 400/404/409', async () => {
    const appointment = { tenantId: 't1', contactId: 'c1', startsAt: inDays(2), status: 'scheduled' };
    expect((await call('PUT', '/v1/appointments/a1', appointment)).status).toBe(201);
    expect(await waiting('appt:a1:')).toBe(2);

    expect((await call('POST', '/v1/appointments/a1/cancel', { reason: 'x' })).body).toMatchObject({ status: 400, errors: [{ field: 'reason' }] });
    expect(await waiting('appt:a1:')).toBe(2);
    const cancelled = await call('POST', '/v1/appointments/a1/cancel');
    expect(cancelled).toMatchObject({ status: 200, body: { appointment: { id: 'a1', status: 'cancelled' }, remindersCancelled: 2 } });
    expect(await waiting('appt:a1:')).toBe(0);
    expect((await call('POST', '/v1/appointments/a1/cancel')).body).toMatchObject({ appointment: { status: 'cancelled' }, remindersCancelled: 0 });
    expect((await call('POST', '/v1/appointments/a1/outcome', { status: 'completed' })).body).toMatchObject({ status: 409 });

    expect((await call('PUT', '/v1/appointments/a2', appointment)).status).toBe(201);
    expect((await call('POST', '/v1/appointments/a2/outcome', { status: 'kept' })).body).toMatchObject({ status: 400, errors: [{ field: 'status' }] });
    expect((await call('GET', '/v1/appointments/a2')).body.status).toBe('scheduled');
    expect((await call('POST', '/v1/appointments/a2/outcome', { status: 'no-show' })).body).toMatchObject({ id: 'a2', status: 'no-show' });
    expect((await call('POST', '/v1/appointments/a2/outcome', { status: 'completed' })).status).toBe(409);
    expect((await call('GET', '/v1/appointments/a2')).body.status).toBe('no-show');

    expect((await call('POST', '/v1/appointments/nope/cancel')).status).toBe(404);
    expect((await call('POST', '/v1/appointments/nope/outcome', { status: 'completed' })).status).toBe(404);
  });

  it('invoices: paid stops the dunning; paid again is 409; unknown 404', async () => {
    const invoice = { tenantId: 't1', contactId: 'c1', amountCents: 12_500, dueAt: inDays(1), paymentLink: 'https://pay.example.com/i1', status: 'open' };
    expect((await call('PUT', '/v1/invoices/i1', invoice)).status).toBe(201);
    const before = await waiting('dunning:i1:');
    expect((await call('POST', '/v1/invoices/i1/paid', { paidAt: inDays(0) })).body).toMatchObject({ status: 400, errors: [{ field: 'paidAt' }] });
    expect((await call('GET', '/v1/invoices/i1')).body.status).toBe('open');
    const paid = await call('POST', '/v1/invoices/i1/paid');
    expect(paid).toMatchObject({ status: 200, body: { invoice: { id: 'i1', status: 'paid', amountCents: 12_500 }, remindersCancelled: before } });
    expect(paid.body.invoice.paidAt).toEqual(expect.any(String));
    expect(await waiting('dunning:i1:')).toBe(0);
    expect((await call('POST', '/v1/invoices/i1/paid')).body).toMatchObject({ status: 409, title: 'Conflict' });
    expect((await call('POST', '/v1/invoices/nope/paid')).status).toBe(404);
  });

  it('leads and replies: convert once, record a reply, 400/404', async () => {
    expect((await call('PUT', '/v1/leads/l1', { tenantId: 't1', contactId: 'c1', status: 'open' })).status).toBe(201);
    const replied = await call('POST', '/v1/contacts/c1/replies', { at: new Date().toISOString() });
    expect(replied).toMatchObject({ status: 200, body: { leadsUpdated: 1, nurtureStepsCancelled: 0 } });
    // Recorded through the one door for replies: one record for the contact's open lead.
    expect(await sql(`SELECT lead_id FROM contact_replies WHERE contact_id = 'c1'`)).toEqual([{ lead_id: 'l1' }]);
    // The lead read back shows that reply, as the jobs count it.
    const [reply] = await sql<{ received_at: Date }>(`SELECT received_at FROM contact_replies WHERE contact_id = 'c1'`);
    expect((await call('GET', '/v1/leads/l1')).body).toMatchObject({ lastReplyAt: reply!.received_at.toISOString() });
    expect((await call('POST', '/v1/contacts/c2/replies')).body).toEqual({ leadsUpdated: 0, nurtureStepsCancelled: 0 });
    expect((await call('POST', '/v1/contacts/c1/replies', { at: 'yesterday' })).body).toMatchObject({ status: 400, errors: [{ field: 'at' }] });
    expect((await call('POST', '/v1/contacts/nope/replies', {})).status).toBe(404);
    expect(await sql(`SELECT contact_id FROM contact_replies ORDER BY contact_id`)).toEqual([{ contact_id: 'c1' }, { contact_id: 'c2' }]);

    const converted = await call('POST', '/v1/leads/l1/convert');
    expect(converted).toMatchObject({ status: 200, body: { lead: { id: 'l1', status: 'converted' }, converted: true } });
    expect((await call('POST', '/v1/leads/l1/convert')).body).toMatchObject({ lead: { status: 'converted' }, converted: false });
    expect((await call('POST', '/v1/leads/l1/convert', { force: true })).body).toMatchObject({ status: 400, errors: [{ field: 'force' }] });
    expect((await call('POST', '/v1/leads/nope/convert')).status).toBe(404);
  });

  it('nurture: enrol (every step scheduled), read, stop (again changes nothing), 400/404/409', async () => {
    await sql(`INSERT INTO nurture_sequences (id, tenant_id, name, channel) VALUES ('seq', 't1', 'Seq', 'email')`);
    await sql(`INSERT INTO nurture_steps (sequence_id, step_no, delay_minutes, template) VALUES ('seq', 1, 60, 'Hi'), ('seq', 2, 120, 'Again')`);
    const count = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM nurture_enrollments'))[0]!.n;

    expect((await call('POST', '/v1/nurture-enrollments', { sequenceId: 'seq', contactId: 'nope' })).body).toMatchObject({
      status: 404,
      errors: [{ field: 'contactId' }],
    });
    expect((await call('POST', '/v1/nurture-enrollments', { sequenceId: 'nope', contactId: 'c2' })).body).toMatchObject({
      status: 404,
      errors: [{ field: 'sequenceId' }],
    });
    expect((await call('POST', '/v1/nurture-enrollments', { sequenceId: 'seq', contactId: 'c2', leadId: 'nope' })).body).toMatchObject({
      status: 404,
      errors: [{ field: 'leadId' }],
    });
    expect((await call('POST', '/v1/nurture-enrollments', { sequenceId: 'seq', contactId: '' })).body).toMatchObject({
      status: 400,
      errors: [{ field: 'contactId' }],
    });
    expect(await count()).toBe(0);

    const enrolled = await call('POST', '/v1/nurture-enrollments', { sequenceId: 'seq', contactId: 'c2' });
    expect(enrolled).toMatchObject({ status: 201, body: { tenantId: 't1', sequenceId: 'seq', contactId: 'c2', status: 'active', steps: 2, stoppedAt: null } });
    const id: string = enrolled.body.id;
    expect(await waiting(`nurture:${id}:`)).toBe(2);
    expect((await call('POST', '/v1/nurture-enrollments', { sequenceId: 'seq', contactId: 'c2' })).body).toMatchObject({
      status: 409,
      errors: [{ field: 'contactId' }],
    });
    expect(await count()).toBe(1);
    expect((await call('GET', `/v1/nurture-enrollments/${id}`)).body).toEqual(enrolled.body);

    expect((await call('POST', `/v1/nurture-enrollments/${id}/stop`, { reason: 'x' })).status).toBe(400);
    expect(await waiting(`nurture:${id}:`)).toBe(2);
    const stopped = await call('POST', `/v1/nurture-enrollments/${id}/stop`);
    expect(stopped).toMatchObject({ status: 200, body: { enrollment: { status: 'stopped', stopReason: 'manual' }, stepsCancelled: 2 } });
    expect(await waiting(`nurture:${id}:`)).toBe(0);
    expect((await call('POST', `/v1/nurture-enrollments/${id}/stop`)).body).toMatchObject({ enrollment: { status: 'stopped' }, stepsCancelled: 0 });

    // An enrolment whose last step went out is completed: it cannot be stopped.
    const other = await call('POST', '/v1/nurture-enrollments', { sequenceId: 'seq', contactId: 'c1' });
    await sql(`UPDATE nurture_enrollments SET status = 'completed' WHERE id = $1`, [other.body.id]);
    expect((await call('POST', `/v1/nurture-enrollments/${other.body.id}/stop`)).body).toMatchObject({ status: 409, errors: [{ field: 'status' }] });
    expect((await call('GET', '/v1/nurture-enrollments/nope')).status).toBe(404);
    expect((await call('POST', '/v1/nurture-enrollments/nope/stop')).status).toBe(404);
  });
});
