import { startSmtpSink, type SmtpSink } from '../fakes/smtp-sink';
import { openMigratedDatabase } from '../support/harness';
import { OTHER_JOBS_THAN_CAMPAIGNS_OFF } from '../support/job-env';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';

const CONTACTS = 20_000;

/** A campaign's outbox rows, distinct idempotency keys and distinct contacts. */
async function campaignOutboxCounts(url: string, id: string): Promise<{ rows: number; keys: number; contacts: number }> {
  return withClient(url, async (c) => {
    const result = await c.query<{ rows: number; keys: number; contacts: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT idempotency_key)::int AS keys, count(DISTINCT contact_id)::int AS contacts
         FROM scheduled_messages WHERE idempotency_key LIKE $1`,
      [`campaign:${id}:%`],
    );
    return result.rows[0]!;
  });
}

/**
 * Issue 4 "SIGKILL during a campaign's expansion, then a restart" and issue 6 §8 "SIGTERM in the
 * middle of a campaign batch": real worker processes expanding a 20,000-recipient campaign, killed
 * or stopped part-way, then a fresh worker finishing it. Afterwards every recipient has exactly
 * one outbox row, the counts agree with the rows, and the job invariants hold.
 */
describe('campaign expansion under SIGKILL and SIGTERM', () => {
  const fixture = useProcessFixture();
  const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const workers: WorkerProcess[] = [];
  const start = async (name: string, env: Record<string, string> = {}) => {
    const worker = fixture.spawn(name, {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      CAMPAIGN_CRON: '* * * * * *',
      CAMPAIGN_BATCH_SIZE: '250',
      // Paces the first worker, so that the kill or stop lands part-way through the expansion.
      CAMPAIGN_BATCH_DELAY: '40',
      // A killed holder's lease must run out quickly for the restart to take over.
      LOCK_TTL_MS: '3000',
      ...OTHER_JOBS_THAN_CAMPAIGNS_OFF,
      // These scenarios are about expansion; the delivery scenario below turns the dispatcher on.
      DELIVERY_ENABLED: 'false',
      ...env,
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    return worker;
  };
  const campaign = async (id: string) =>
    (
      await sql<{ status: string; queued: number; skipped: number; targeted: number; expanded: boolean }>(
        `SELECT status, queued, skipped, targeted, expanded_at IS NOT NULL AS expanded FROM campaigns WHERE id = $1`,
        [id],
      )
    )[0]!;
  const outbox = (id: string) => campaignOutboxCounts(fixture.db.url, id);
  /**
   * The worker that finishes a campaign after the kill or stop: the fault has happened by then, and
   * what it must show (a resume from the committed cursor, every recipient once) does not depend on
   * the pace, so it expands the rest without the pause between batches.
   */
  const restart = (name: string) => start(name, { CAMPAIGN_BATCH_DELAY: '0' });
  const recipients = async (id: string) => (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM campaign_recipients WHERE campaign_id = $1`, [id]))[0]!.n;

  beforeAll(async () => {
    // The schema first (workers would migrate it too), so the audience exists before any starts.
    await (await openMigratedDatabase('postgres', fixture.db.url)).close();
    await sql(`INSERT INTO tenants (id, name, status) VALUES ('big', 'Big', 'active')`);
    await sql(`INSERT INTO contacts (id, tenant_id, name, email)
               SELECT 'c' || lpad(g::text, 6, '0'), 'big', 'Contact ' || g, 'c' || g || '@big.test' FROM generate_series(1, ${CONTACTS}) g`);
    await sql(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('everyone', 'big', 'Everyone')`);
    await sql(`INSERT INTO contact_list_members (list_id, contact_id) SELECT 'everyone', id FROM contacts`);
    // Every 1000th contact has opted out: 20 skipped.
    await sql(
      `INSERT INTO suppressions (tenant_id, channel, recipient) SELECT 'big', 'email', 'c' || g || '@big.test' FROM generate_series(1000, ${CONTACTS}, 1000) g`,
    );
  });

  const addCampaign = (id: string) =>
    sql(
      `INSERT INTO campaigns (id, tenant_id, name, channel, subject, template, send_at, list_id)
         VALUES ($1, 'big', $1, 'email', 'News', 'Hello {{ contact.name }}', now(), 'everyone')`,
      [id],
    );

  it('SIGKILL during expansion, then a restart: every recipient gets exactly one outbox row', async () => {
    const first = await start('kill-a');
    await addCampaign('killed');
    await waitFor('expansion to be under way', async () => (await campaign('killed')).queued >= 2_000, { everyMs: 20 });
    first.kill('SIGKILL');
    await first.waitForExit();
    const atKill = await campaign('killed');
    expect(atKill.expanded).toBe(false); // killed part-way, not after the end
    expect(await outbox('killed')).toEqual({ rows: atKill.queued, keys: atKill.queued, contacts: atKill.queued });

    const second = await restart('kill-b');
    await waitFor('the restarted worker to finish the expansion', async () => (await campaign('killed')).expanded, { limitMs: 120_000 });
    const done = await campaign('killed');
    expect(done).toEqual({ status: 'sending', queued: CONTACTS - 20, skipped: 20, targeted: CONTACTS, expanded: true });
    expect(await outbox('killed')).toEqual({ rows: CONTACTS - 20, keys: CONTACTS - 20, contacts: CONTACTS - 20 });
    expect(await recipients('killed')).toBe(CONTACTS);
    // Stopped first: the run that set expanded_at logs its end after that commit, so its line is
    // certain to be in the logs only once the worker has drained and its stdout has closed.
    second.kill('SIGTERM');
    expect(await second.waitForExit()).toEqual({ code: 0, signal: null });
    // The second worker resumed from the cursor rather than starting over.
    const resumedBatches = second.logs.filter((l) => l.message === 'job run finished' && l.job === 'campaign-scheduler' && Number(l.items) > 0);
    expect(resumedBatches.map((l) => Number(l.items)).reduce((a, b) => a + b, 0)).toBe(CONTACTS - 20 - atKill.queued);
    expectJobInvariants(await checkJobInvariants(fixture.db.url, workers));
  });

  it('SIGTERM in the middle of a batch: the job stops at the next batch boundary, then a restart resumes with no duplicates', async () => {
    // A long shutdown timeout: the job must return on its own when shutdown begins, not be aborted.
    const first = await start('term-a', { SHUTDOWN_TIMEOUT_MS: '60000' });
    await addCampaign('terminated');
    await waitFor('expansion to be under way', async () => (await campaign('terminated')).queued >= 2_000, { everyMs: 20 });
    first.kill('SIGTERM');
    expect(await first.waitForExit()).toEqual({ code: 0, signal: null });
    const atStop = await campaign('terminated');
    expect(atStop.expanded).toBe(false);
    // Whatever the last batch did, it committed whole or not at all: rows and counts agree.
    expect(await outbox('terminated')).toEqual({ rows: atStop.queued, keys: atStop.queued, contacts: atStop.queued });
    // The run that was expanding when SIGTERM came (earlier ticks may have found nothing to do).
    const stopped = first.logs.filter((l) => l.message === 'job run finished' && l.job === 'campaign-scheduler' && Number(l.items) > 0).pop();
    expect(stopped?.outcome).toBe('succeeded');
    expect(first.logs.some((l) => String(l.message).startsWith('campaign expansion paused: the worker is stopping'))).toBe(true);
    expect(first.logs.some((l) => String(l.message).startsWith('jobs still running at SHUTDOWN_TIMEOUT_MS'))).toBe(false);
    expect(first.logs.some((l) => l.message === 'shutdown complete')).toBe(true);

    const second = await restart('term-b');
    await waitFor('the restarted worker to finish the expansion', async () => (await campaign('terminated')).expanded, { limitMs: 120_000 });
    expect(await campaign('terminated')).toEqual({ status: 'sending', queued: CONTACTS - 20, skipped: 20, targeted: CONTACTS, expanded: true });
    expect(await outbox('terminated')).toEqual({ rows: CONTACTS - 20, keys: CONTACTS - 20, contacts: CONTACTS - 20 });
    expect(await recipients('terminated')).toBe(CONTACTS);
    second.kill('SIGTERM');
    await second.waitForExit();
    expectJobInvariants(await checkJobInvariants(fixture.db.url, workers));
  });
});

/**
 * The same crash with the delivery dispatcher running and e-mail going to a real SMTP server on
 * loopback (its own database, so no other campaign's messages are in the outbox).
 */
describe('campaign expansion and delivery under SIGKILL', () => {
  const fixture = useProcessFixture();
  const sql = <R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    withClient(fixture.db.url, async (c) => (await c.query<R>(text, params)).rows);
  const workers: WorkerProcess[] = [];
  const start = async (name: string, env: Record<string, string>) => {
    const worker = fixture.spawn(name, {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      CAMPAIGN_CRON: '* * * * * *',
      LOCK_TTL_MS: '3000',
      ...OTHER_JOBS_THAN_CAMPAIGNS_OFF,
      ...env,
    });
    workers.push(worker);
    await waitUntilStarted(worker);
    return worker;
  };
  const campaign = async (id: string) =>
    (await sql<{ queued: number; expanded: boolean }>(`SELECT queued, expanded_at IS NOT NULL AS expanded FROM campaigns WHERE id = $1`, [id]))[0]!;
  const outbox = (id: string) => campaignOutboxCounts(fixture.db.url, id);

  beforeAll(async () => {
    await (await openMigratedDatabase('postgres', fixture.db.url)).close();
    await sql(`INSERT INTO tenants (id, name, status) VALUES ('big', 'Big', 'active')`);
    await sql(`INSERT INTO contacts (id, tenant_id, name, email)
               SELECT 'c' || lpad(g::text, 6, '0'), 'big', 'Contact ' || g, 'c' || g || '@big.test' FROM generate_series(1, 600) g`);
  });

  it('SIGKILL during expansion while the dispatcher sends to an SMTP server: no contact receives the campaign twice, every message ends sent (or unknown, for the operator)', async () => {
    const sink: SmtpSink = await startSmtpSink();
    try {
      const smtp = {
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(sink.port),
        EMAIL_FROM: 'crm@crm.example',
        DELIVERY_LEASE_MS: '2000',
        DELIVERY_SEND_TIMEOUT_MS: '1000',
        CAMPAIGN_BATCH_SIZE: '20',
        CAMPAIGN_BATCH_DELAY: '250',
      };
      const audience = 600;
      await sql(`INSERT INTO contact_lists (id, tenant_id, name) VALUES ('some', 'big', 'Some')`);
      await sql(`INSERT INTO contact_list_members (list_id, contact_id) SELECT 'some', id FROM contacts`);
      const first = await start('deliver-a', smtp);
      await sql(`INSERT INTO campaigns (id, tenant_id, name, channel, subject, template, send_at, list_id)
                 VALUES ('delivered', 'big', 'Delivered', 'email', 'News for {{ contact.name }}', 'Hello {{ contact.name }}', now(), 'some')`);
      await waitFor('expansion and delivery to be under way', async () => (await campaign('delivered')).queued >= 100 && sink.received.length > 0, {
        everyMs: 20,
      });
      first.kill('SIGKILL');
      await first.waitForExit();
      expect((await campaign('delivered')).expanded).toBe(false);

      const second = await start('deliver-b', smtp);
      await waitFor(
        'the campaign to be expanded and every message to leave scheduled/claimed/sending',
        async () => {
          const c = await campaign('delivered');
          if (!c.expanded) return false;
          const open = await sql(
            `SELECT 1 FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:delivered:%' AND status IN ('scheduled', 'claimed', 'sending') LIMIT 1`,
          );
          return open.length === 0;
        },
        { limitMs: 180_000, everyMs: 250 },
      );

      const queued = audience;
      expect(await outbox('delivered')).toEqual({ rows: queued, keys: queued, contacts: queued });
      const states = await sql<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:delivered:%' GROUP BY status ORDER BY status`,
      );
      const byStatus: Record<string, number> = Object.fromEntries(states.map((r) => [r.status, r.n]));
      const sent = byStatus.sent ?? 0;
      // E-mail has no receiver-side deduplication, so a send the kill interrupted is left
      // 'unknown' for the operator rather than resent; everything else was sent.
      expect(Object.keys(byStatus).sort()).toEqual(expect.arrayContaining(['sent']));
      expect(Object.keys(byStatus).every((s) => s === 'sent' || s === 'unknown')).toBe(true);
      const received = sink.received.map((m) => String(m.headers.get('idempotency-key') ?? ''));
      const perKey = new Map<string, number>();
      for (const key of received) perKey.set(key, (perKey.get(key) ?? 0) + 1);
      expect([...perKey.entries()].filter(([, n]) => n > 1)).toEqual([]);
      expect(received.every((k) => k.startsWith('campaign:delivered:'))).toBe(true);
      // Every 'sent' row was received; 'unknown' rows were received at most once.
      expect(sent).toBeLessThanOrEqual(received.length);
      expect(received.length).toBeLessThanOrEqual(sent + (byStatus.unknown ?? 0));
      const sentKeys = await sql<{ idempotency_key: string }>(
        `SELECT idempotency_key FROM scheduled_messages WHERE idempotency_key LIKE 'campaign:delivered:%' AND status = 'sent'`,
      );
      expect(sentKeys.filter((r) => !perKey.has(r.idempotency_key))).toEqual([]);
      second.kill('SIGTERM');
      await second.waitForExit();
      expectJobInvariants(await checkJobInvariants(fixture.db.url, workers));
    } finally {
      await sink.close();
    }
  }, 300_000);
});
