import { createCampaignSchedulerJob } from '../../src/crm/campaigns/campaign-scheduler-job';
import type { Database } from '../../src/db/database';
import type { RedisClient } from '../../src/redis/redis-client';
import { runTick } from '../../src/scheduler/run-tick';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { v1Client } from '../support/v1-client';
import { TEST_REDIS_URL } from '../support/services';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'crm-contract-test-key-0123456789';

/**
 * Lists, their membership and segments over /api/v1 on a real worker process and PostgreSQL,
 * every answer checked against the served OpenAPI document — and a campaign expanded by the real
 * campaign-scheduler (one tick, called directly) reaching exactly what the API wrote.
 */
describe('data contract: lists and segments over /api/v1', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;
  let redis: RedisClient;

  beforeAll(async () => {
    worker = fixture.spawn('crm-contract-lists', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    db = await openMigratedDatabase('postgres', fixture.db.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
    for (const t of ['t1', 't2']) expect((await call('PUT', `/v1/tenants/${t}`, { name: t, status: 'active' })).status).toBe(201);
    for (const [c, t, tags] of [
      ['c1', 't1', ['vip', 'de']],
      ['c2', 't1', ['vip']],
      ['c3', 't1', ['de']],
      ['c9', 't2', ['vip', 'de']],
    ] as const) {
      expect((await call('PUT', `/v1/contacts/${c}`, { tenantId: t, email: `${c}@example.com`, tags })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await redis?.quit();
    await db?.close();
  });

  const call = v1Client(() => worker, API_KEY);
  const rows = async (table: string) => (await db.query(`SELECT * FROM ${table} ORDER BY 1, 2`)).rows;
  const fieldsOf = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field).sort();
  let tick = 0;
  /** One campaign-scheduler tick, and the contacts the campaign's messages went to. */
  const expand = async (campaignId: string) => {
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 100, batchDelayMs: 0 });
    const result = await runTick(replica('lists-test', db, redis, fixture.keys.prefix), job, new Date(Date.UTC(2026, 0, 1, 0, 0, tick++)));
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
    const sent = await db.query<{ contact_id: string }>(`SELECT contact_id FROM scheduled_messages WHERE idempotency_key LIKE $1 ORDER BY contact_id`, [
      `campaign:${campaignId}:%`,
    ]);
    return sent.rows.map((r) => r.contact_id);
  };
  const campaign = async (audience: { listId: string } | { segmentId: string }) => {
    const created = await call('POST', '/campaigns', {
      tenantId: 't1',
      name: 'News',
      channel: 'email',
      subject: 'News',
      template: 'Hello',
      sendAt: new Date(Date.now() - 1_000).toISOString(),
      ...audience,
    });
    expect(created.status).toBe(201);
    return created.body.id as string;
  };

  it('upserts a list idempotently; a changed name updates it', async () => {
    const first = await call('PUT', '/v1/lists/l1', { tenantId: 't1', name: 'Newsletter' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ id: 'l1', tenantId: 't1', name: 'Newsletter', memberCount: 0, outcome: 'created' }));
    const before = await rows('contact_lists');
    expect((await call('PUT', '/v1/lists/l1', { tenantId: 't1', name: 'Newsletter' })).body.outcome).toBe('unchanged');
    expect(await rows('contact_lists')).toEqual(before);
    const renamed = await call('PUT', '/v1/lists/l1', { tenantId: 't1', name: 'Weekly' });
    expect(renamed).toEqual(expect.objectContaining({ status: 200, body: expect.objectContaining({ outcome: 'updated', name: 'Weekly' }) }));
    expect((await call('GET', '/v1/lists/l1')).body).toEqual(expect.objectContaining({ name: 'Weekly', createdAt: first.body.createdAt }));
  });

  it('replaces the membership: the same PUT twice changes nothing, a contact left out is removed', async () => {
    const first = await call('PUT', '/v1/lists/l1/members', { contactIds: ['c1', 'c2'] });
    expect(first).toEqual(expect.objectContaining({ status: 200, body: { listId: 'l1', outcome: 'updated', added: 2, removed: 0, members: 2 } }));
    const members = await rows('contact_list_members');
    const again = await call('PUT', '/v1/lists/l1/members', { contactIds: ['c2', 'c1'] });
    expect(again.body).toEqual({ listId: 'l1', outcome: 'unchanged', added: 0, removed: 0, members: 2 });
    expect(await rows('contact_list_members')).toEqual(members);

    const replaced = await call('PUT', '/v1/lists/l1/members', { contactIds: ['c2', 'c3'] });
    expect(replaced.body).toEqual({ listId: 'l1', outcome: 'updated', added: 1, removed: 1, members: 2 });
    const after = await rows('contact_list_members');
    expect(after.map((m) => m.contact_id)).toEqual(['c2', 'c3']);
    // c2 stayed a member throughout: its row, added_at included, is the one from the first PUT.
    expect(after[0]).toEqual(members.find((m) => m.contact_id === 'c2'));
    expect((await call('GET', '/v1/lists/l1')).body.memberCount).toBe(2);
  });

  it('the campaign-scheduler expands a list to exactly the members the API wrote', async () => {
    expect(await expand(await campaign({ listId: 'l1' }))).toEqual(['c2', 'c3']);
  });

  it('refuses bad lists and memberships with a 400 naming each field, and writes nothing', async () => {
    const lists = await rows('contact_lists');
    const members = await rows('contact_list_members');
    const bad = await call('PUT', '/v1/lists/l2', { tenantId: '', name: '  ', members: [] });
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/^application\/problem\+json/);
    expect(fieldsOf(bad.body)).toEqual(['members', 'name', 'tenantId']);
    const unknownTenant = await call('PUT', '/v1/lists/l2', { tenantId: 'nobody', name: 'X' });
    expect(unknownTenant.status).toBe(400);
    expect(fieldsOf(unknownTenant.body)).toEqual(['tenantId']);

    const repeated = await call('PUT', '/v1/lists/l1/members', { contactIds: ['c1', '', 'c1'] });
    expect(repeated.status).toBe(400);
    expect(fieldsOf(repeated.body)).toEqual(['contactIds[1]', 'contactIds[2]']);
    // c9 is another tenant's contact: as unknown to this list as one that does not exist.
    const unknown = await call('PUT', '/v1/lists/l1/members', { contactIds: ['c1', 'c9', 'nobody'] });
    expect(unknown.status).toBe(400);
    expect(fieldsOf(unknown.body)).toEqual(['contactIds[1]', 'contactIds[2]']);
    expect((await call('PUT', '/v1/lists/l1/members', { contactIds: 'c1' })).status).toBe(400);
    expect(await rows('contact_lists')).toEqual(lists);
    expect(await rows('contact_list_members')).toEqual(members);
  });

  it('answers 404 for unknown lists and segments, 409 for an id of another tenant', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/lists/nobody'],
      ['PUT', '/v1/lists/nobody/members', { contactIds: [] }],
      ['GET', '/v1/segments/nobody'],
    ] as const) {
      const answer = await call(method, path, body);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(expect.objectContaining({ status: 404, title: 'Not found' }));
    }
    const lists = await rows('contact_lists');
    const other = await call('PUT', '/v1/lists/l1', { tenantId: 't2', name: 'Stolen' });
    expect(other.status).toBe(409);
    expect(fieldsOf(other.body)).toEqual(['tenantId']);
    expect(await rows('contact_lists')).toEqual(lists);

    expect((await call('PUT', '/v1/segments/s-other', { tenantId: 't2', name: 'Theirs', tags: ['vip'] })).status).toBe(201);
    const stolen = await call('PUT', '/v1/segments/s-other', { tenantId: 't1', name: 'Mine', tags: ['vip'] });
    expect(stolen.status).toBe(409);
    expect((await call('GET', '/v1/segments/s-other')).body).toEqual(expect.objectContaining({ tenantId: 't2', name: 'Theirs' }));
  });

  it('an empty membership empties the list', async () => {
    expect((await call('PUT', '/v1/lists/l1/members', { contactIds: [] })).body).toEqual({
      listId: 'l1',
      outcome: 'updated',
      added: 0,
      removed: 2,
      members: 0,
    });
    expect((await db.query(`SELECT * FROM contact_list_members WHERE list_id = 'l1'`)).rows).toEqual([]);
  });

  it('upserts a segment idempotently (a repeated tag is the same segment), refuses bad fields, and the campaign-scheduler reads its tags', async () => {
    const first = await call('PUT', '/v1/segments/s1', { tenantId: 't1', name: 'German VIPs', tags: ['vip', 'de'] });
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ id: 's1', tenantId: 't1', tags: ['vip', 'de'], outcome: 'created' }));
    const before = (await db.query(`SELECT * FROM segments WHERE id = 's1'`)).rows;
    expect((await call('PUT', '/v1/segments/s1', { tenantId: 't1', name: 'German VIPs', tags: ['vip', 'de', 'vip'] })).body.outcome).toBe('unchanged');
    expect((await db.query(`SELECT * FROM segments WHERE id = 's1'`)).rows).toEqual(before);

    const bad = await call('PUT', '/v1/segments/s1', { tenantId: 't1', name: '', tags: [] });
    expect(bad.status).toBe(400);
    expect(fieldsOf(bad.body)).toEqual(['name', 'tags']);
    expect(fieldsOf((await call('PUT', '/v1/segments/s1', { tenantId: 't1', name: 'X', tags: ['ok', ' '] })).body)).toEqual(['tags[1]']);
    expect(fieldsOf((await call('PUT', '/v1/segments/s2', { tenantId: 'nobody', name: 'X', tags: ['vip'] })).body)).toEqual(['tenantId']);
    expect((await db.query(`SELECT * FROM segments WHERE id = 's1'`)).rows).toEqual(before);

    // c1 carries both tags; c2 and c3 one each; c9 both, but of another tenant.
    expect(await expand(await campaign({ segmentId: 's1' }))).toEqual(['c1']);
    const narrowed = await call('PUT', '/v1/segments/s1', { tenantId: 't1', name: 'VIPs', tags: ['vip'] });
    expect(narrowed.body).toEqual(expect.objectContaining({ outcome: 'updated', name: 'VIPs', tags: ['vip'] }));
    expect(await expand(await campaign({ segmentId: 's1' }))).toEqual(['c1', 'c2']);
  });
});
