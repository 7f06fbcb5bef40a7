import type { Database } from '../../src/db/database';
import { WAKEUP_CHANNEL } from '../../src/delivery/outbox';
import { waitFor } from '../support/wait';
import { expandCampaignBatch } from '../../src/crm/campaigns/campaign-batch';
import { createCampaignSchedulerJob } from '../../src/crm/campaigns/campaign-scheduler-job';
import { cancelCampaign, getCampaign, pauseCampaign, resumeCampaign, startDueCampaigns } from '../../src/crm/campaigns/campaign-store';
import { runTick } from '../../src/scheduler/run-tick';
import { connectTestRedis, openMigratedDatabase, replica } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import type { RedisClient } from '../../src/redis/redis-client';
import { addCampaign, addContacts, addTenant, campaignOutbox, contactId } from './crm-fixtures';

describe('campaign-scheduler (called directly through runTick: lease, fence, history)', () => {
  let testDb: TestDatabase;
  let db: Database;
  let redis: RedisClient;
  const keys = createKeyPrefix();
  let tick = 0;
  const fireTime = () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++));
  const deps = () => replica('campaigns-test', db, redis, keys.prefix);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    await redis.quit();
    await db.close();
    await keys.removeKeys();
    await testDb.drop();
  });

  it('expands a list audience in batches: one outbox row per reachable contact, opted-out and address-less contacts skipped', async () => {
    await addTenant(db, 'acme');
    // 250 contacts; every 25th has no e-mail address (10 of them); 3 have opted out of e-mail.
    await addContacts(db, 'acme', 250, { listId: 'acme-list', noAddressEvery: 25 });
    await db.query(`INSERT INTO suppressions (tenant_id, channel, recipient) VALUES
      ('acme', 'email', 'user3@acme.test'), ('acme', 'email', 'user77@acme.test'), ('acme', 'email', 'user201@acme.test')`);
    await addCampaign(db, 'spring', 'acme', { listId: 'acme-list' });
    const batches: number[] = [];
    const job = createCampaignSchedulerJob({
      schedule: '0 * * * * *',
      batchSize: 40,
      batchDelayMs: 0,
      onBatch: (_id, b) => batches.push(b.queued + b.skipped),
    });

    const result = await runTick(deps(), job, fireTime());
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 237 }));
    // 250 contacts in batches of 40: six full batches and one of 10.
    expect(batches).toEqual([40, 40, 40, 40, 40, 40, 10]);
    const campaign = await getCampaign(db, 'spring');
    expect(campaign).toEqual(
      expect.objectContaining({ status: 'sending', targeted: 250, queued: 237, skipped: 13, cursor_contact_id: contactId('acme', 250) }),
    );
    expect(campaign?.expanded_at).not.toBeNull();
    expect(await campaignOutbox(db, 'spring')).toEqual({ rows: 237, distinctContacts: 237 });
    const skipped = await db.query(
      `SELECT contact_id, skip_reason FROM campaign_recipients WHERE campaign_id = 'spring' AND status = 'skipped' ORDER BY contact_id`,
    );
    expect(skipped.rows.filter((r) => r.skip_reason === 'opted-out').map((r) => r.contact_id)).toEqual([
      contactId('acme', 3),
      contactId('acme', 77),
      contactId('acme', 201),
    ]);
    expect(skipped.rows.filter((r) => r.skip_reason === 'no-address')).toHaveLength(10);
    const suppressed = await db.query(`SELECT 1 FROM scheduled_messages WHERE recipient IN ('user3@acme.test', 'user77@acme.test')`);
    expect(suppressed.rowCount).toBe(0);
    const sample = await db.query(
      `SELECT tenant_id, channel, recipient, type, status, variables->'contact'->>'name' AS name FROM scheduled_messages WHERE idempotency_key = $1`,
      [`campaign:spring:${contactId('acme', 1)}`],
    );
    expect(sample.rows).toEqual([
      { tenant_id: 'acme', channel: 'email', recipient: 'user1@acme.test', type: 'campaign', status: 'scheduled', name: 'Contact 1' },
    ]);

    // A second tick finds nothing left to expand and writes nothing.
    const again = await runTick(deps(), job, fireTime());
    expect(again).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 0 }));
    expect(await campaignOutbox(db, 'spring')).toEqual({ rows: 237, distinctContacts: 237 });
  });

  it('expands a segment (tag) audience and leaves other tenants and untagged contacts out', async () => {
    await addTenant(db, 'beta');
    await addContacts(db, 'beta', 30, { tags: ['vip'], prefix: 'beta-vip-' });
    await addContacts(db, 'beta', 20, { tags: ['basic'], prefix: 'beta-basic-' });
    await db.query(`INSERT INTO segments (id, tenant_id, name, tags) VALUES ('beta-vips', 'beta', 'VIPs', ARRAY['vip'])`);
    await addCampaign(db, 'vip-offer', 'beta', { segmentId: 'beta-vips' });
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 7, batchDelayMs: 0 });
    const result = await runTick(deps(), job, fireTime());
    expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 30 }));
    const recipients = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:vip-offer:beta-vip-%'`,
    );
    expect(recipients.rows[0]!.n).toBe(30);
    expect(await campaignOutbox(db, 'vip-offer')).toEqual({ rows: 30, distinctContacts: 30 });
  });

  it('resumes from its cursor after a batch was rolled back and after a run was aborted mid-campaign: every contact exactly once', async () => {
    await addTenant(db, 'gamma');
    await addContacts(db, 'gamma', 120, { listId: 'gamma-list' });
    await addCampaign(db, 'resume', 'gamma', { listId: 'gamma-list' });
    expect(await startDueCampaigns(db)).toEqual(['resume']);
    // A previous holder committed one batch ...
    await db.transaction((tx) => expandCampaignBatch(tx, 'resume', 25, 'list'));
    // ... and lost the next one half-way: the transaction rolls back with its cursor move.
    await expect(
      db.transaction(async (tx) => {
        await expandCampaignBatch(tx, 'resume', 25, 'list');
        throw new Error('connection lost mid-batch');
      }),
    ).rejects.toThrow('connection lost mid-batch');
    expect(await getCampaign(db, 'resume')).toEqual(expect.objectContaining({ queued: 25, cursor_contact_id: contactId('gamma', 25) }));

    // A run aborted after two more batches (shutdown or lease loss): outcome recorded, work kept.
    const aborting = deps();
    let seen = 0;
    const abortingJob = createCampaignSchedulerJob({
      schedule: '0 * * * * *',
      batchSize: 25,
      batchDelayMs: 10,
      onBatch: () => {
        if (++seen === 2) aborting.shutdown.abort(new Error('SIGTERM: shutdown timeout'));
      },
    });
    const aborted = await runTick(aborting, abortingJob, fireTime());
    expect(aborted).toEqual(expect.objectContaining({ ran: true, outcome: 'aborted' }));
    expect((await getCampaign(db, 'resume'))?.queued).toBe(75);

    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 25, batchDelayMs: 0 });
    const resumed = await runTick(deps(), job, fireTime());
    expect(resumed).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 45 }));
    expect(await getCampaign(db, 'resume')).toEqual(expect.objectContaining({ queued: 120, targeted: 120, skipped: 0 }));
    expect(await campaignOutbox(db, 'resume')).toEqual({ rows: 120, distinctContacts: 120 });
    const recipients = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM campaign_recipients WHERE campaign_id = 'resume'`);
    expect(recipients.rows[0]!.n).toBe(120);
  });

  it('pause stops expansion at a batch boundary, resume continues, cancel withdraws what the delivery engine has not picked up', async () => {
    await addTenant(db, 'delta');
    await addContacts(db, 'delta', 100, { listId: 'delta-list' });
    await addCampaign(db, 'pausable', 'delta', { listId: 'delta-list' });
    let batches = 0;
    const job = createCampaignSchedulerJob({
      schedule: '0 * * * * *',
      batchSize: 10,
      batchDelayMs: 0,
      onBatch: (id) => {
        if (++batches === 3) void pauseCampaign(db, id);
      },
    });
    await runTick(deps(), job, fireTime());
    const paused = await getCampaign(db, 'pausable');
    expect(paused?.status).toBe('paused');
    // The pause lands between batches: at least the three batches before it, never the whole list.
    expect(paused!.queued).toBeGreaterThanOrEqual(30);
    expect(paused!.queued).toBeLessThan(100);
    const queuedWhilePaused = paused!.queued;
    expect((await runTick(deps(), job, fireTime())).ran).toBe(true);
    expect((await getCampaign(db, 'pausable'))?.queued).toBe(queuedWhilePaused);
    expect((await campaignOutbox(db, 'pausable')).rows).toBe(queuedWhilePaused);

    await expect(pauseCampaign(db, 'pausable')).rejects.toThrow('is paused');
    expect((await resumeCampaign(db, 'pausable')).status).toBe('sending');
    await runTick(deps(), createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 10, batchDelayMs: 0 }), fireTime());
    expect(await getCampaign(db, 'pausable')).toEqual(expect.objectContaining({ status: 'sending', queued: 100 }));
    expect(await campaignOutbox(db, 'pausable')).toEqual({ rows: 100, distinctContacts: 100 });

    // The delivery engine has sent 40 of them; cancelling withdraws the 60 still scheduled.
    await db.query(
      `UPDATE scheduled_messages SET status = 'sent', sent_at = now()
        WHERE id IN (SELECT id FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:pausable:%' ORDER BY id LIMIT 40)`,
    );
    const cancelled = await cancelCampaign(db, 'pausable');
    expect(cancelled).toEqual(expect.objectContaining({ status: 'cancelled', sent: 40, cancelled: 60 }));
    const states = await db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:pausable:%' GROUP BY status ORDER BY status`,
    );
    expect(states.rows).toEqual([
      { status: 'cancelled', n: 60 },
      { status: 'sent', n: 40 },
    ]);
    await expect(resumeCampaign(db, 'pausable')).rejects.toThrow('is cancelled');
  });

  it('a campaign becomes sent with its sent/failed counts once the delivery engine has finished every message', async () => {
    await addTenant(db, 'eps');
    await addContacts(db, 'eps', 12, { listId: 'eps-list' });
    await addCampaign(db, 'finish', 'eps', { listId: 'eps-list' });
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 5, batchDelayMs: 0 });
    await runTick(deps(), job, fireTime());
    expect((await getCampaign(db, 'finish'))?.status).toBe('sending');
    await db.query(
      `UPDATE scheduled_messages SET status = 'sent', sent_at = now() WHERE idempotency_key LIKE 'campaign:finish:%' AND recipient <> 'user5@eps.test'`,
    );
    await db.query(`UPDATE scheduled_messages SET status = 'failed' WHERE idempotency_key = $1`, [`campaign:finish:${contactId('eps', 5)}`]);
    await runTick(deps(), job, fireTime());
    const done = await getCampaign(db, 'finish');
    expect(done).toEqual(expect.objectContaining({ status: 'sent', targeted: 12, queued: 12, sent: 11, failed: 1, skipped: 0 }));
    expect(done?.completed_at).not.toBeNull();
  });

  it('each batch wakes the delivery dispatchers (NOTIFY on the outbox channel, committed with the rows)', async () => {
    await addTenant(db, 'eta');
    await addContacts(db, 'eta', 6, { listId: 'eta-list' });
    await addCampaign(db, 'wakes', 'eta', { listId: 'eta-list' });
    const payloads: string[] = [];
    const unlisten = await db.listen(WAKEUP_CHANNEL, (payload) => payloads.push(payload));
    try {
      const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 4, batchDelayMs: 0 });
      await runTick(deps(), job, fireTime());
      await waitFor('the wake-ups', () => payloads.length >= 2);
      // One per batch that inserted rows (4 + 2); the payload is the earliest due time in ms.
      expect(payloads).toHaveLength(2);
      const sendAt = (await getCampaign(db, 'wakes'))!.send_at;
      expect(payloads.every((p) => Math.abs(Number(p) - new Date(sendAt).getTime()) < 1)).toBe(true);
    } finally {
      await unlisten();
    }
  });

  it("a suspended tenant's campaign waits, and continues from its cursor when the tenant is active again", async () => {
    await addTenant(db, 'theta');
    await addContacts(db, 'theta', 30, { listId: 'theta-list' });
    await addCampaign(db, 'held', 'theta', { listId: 'theta-list' });
    await db.query(`UPDATE tenants SET status = 'suspended' WHERE id = 'theta'`);
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 10, batchDelayMs: 0 });
    await runTick(deps(), job, fireTime());
    expect(await getCampaign(db, 'held')).toEqual(expect.objectContaining({ status: 'scheduled', queued: 0 }));
    await db.query(`UPDATE tenants SET status = 'active' WHERE id = 'theta'`);
    await runTick(deps(), job, fireTime());
    expect(await getCampaign(db, 'held')).toEqual(expect.objectContaining({ status: 'sending', queued: 30 }));
  });

  it('a cancel cut short after its status change is finished by the next tick', async () => {
    await addTenant(db, 'iota');
    await addContacts(db, 'iota', 15, { listId: 'iota-list' });
    await addCampaign(db, 'half-cancelled', 'iota', { listId: 'iota-list' });
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 5, batchDelayMs: 0 });
    await runTick(deps(), job, fireTime());
    // The API process died right after marking it cancelled, before cancelling any message.
    await db.query(`UPDATE campaigns SET status = 'cancelled' WHERE id = 'half-cancelled'`);
    await runTick(deps(), job, fireTime());
    const states = await db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:half-cancelled:%' GROUP BY status`,
    );
    expect(states.rows).toEqual([{ status: 'cancelled', n: 15 }]);
    const campaign = await getCampaign(db, 'half-cancelled');
    expect(campaign).toEqual(expect.objectContaining({ status: 'cancelled', cancelled: 15 }));
    expect(campaign?.completed_at).not.toBeNull();
  });

  it('a campaign whose send time is in the future is not touched', async () => {
    await addTenant(db, 'zeta');
    await addContacts(db, 'zeta', 5, { listId: 'zeta-list' });
    await addCampaign(db, 'later', 'zeta', { listId: 'zeta-list' }, { sendAt: new Date(Date.now() + 3_600_000) });
    const job = createCampaignSchedulerJob({ schedule: '0 * * * * *', batchSize: 5, batchDelayMs: 0 });
    await runTick(deps(), job, fireTime());
    expect(await getCampaign(db, 'later')).toEqual(expect.objectContaining({ status: 'scheduled', queued: 0 }));
    expect((await campaignOutbox(db, 'later')).rows).toBe(0);
  });
});
