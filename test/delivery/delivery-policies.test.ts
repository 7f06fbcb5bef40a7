import { DateTime } from 'luxon';
import type { Database } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { claimDueMessages, type ClaimResult } from '../../src/delivery/outbox/claim';
import { putFrequencyCap, putQuietHours } from '../../src/delivery/policy-store';
import { openScratchDatabase, type ScratchDatabase } from '../support/harness';
import { waitFor } from '../support/wait';

/**
 * The delivery policies in the dispatcher's claim, on PostgreSQL and PGlite, on the database's
 * own clock (the window is laid around the database's now): quiet hours hold a message until the
 * window's end in the contact's zone (the tenant's when it has none), skip it when so configured,
 * let transactional messages and overridden types or campaigns through; frequency caps admit N
 * per contact and period and defer (to the computed moment) or skip the rest.
 */
describe.each(['postgres', 'pglite'] as const)('delivery policies in the claim on %s', (kind) => {
  let scratch: ScratchDatabase;
  let db: Database;
  let seq = 0;
  beforeAll(async () => {
    scratch = await openScratchDatabase(kind);
    db = scratch.db;
    await db.query(`INSERT INTO tenants (id, name, timezone) VALUES ('qh', 'Quiet', 'Asia/Kolkata'), ('fc', 'Capped', 'UTC')`);
    await db.query(`INSERT INTO contacts (id, tenant_id, timezone) VALUES ('lh', 'qh', 'Australia/Lord_Howe'), ('kol', 'qh', NULL)`);
  });
  afterAll(async () => scratch.close());

  const databaseNow = async (): Promise<number> => new Date((await db.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now).getTime();
  const claim = (limit = 100): Promise<ClaimResult[]> =>
    claimDueMessages(db, { token: `test:${++seq}`, limit, leaseMs: 60_000, excludeChannels: [], staleAfterSeconds: 86_400 });
  const message = (tenantId: string, contactId: string, type: string, extra: Partial<ScheduleRequest> = {}): ScheduleRequest => ({
    tenantId,
    contactId,
    channel: 'log',
    recipient: `${contactId}@example.com`,
    scheduledAt: new Date(Date.now() - 1_000),
    template: 'Hello',
    type,
    idempotencyKey: `${kind}-${type}-${contactId}-${++seq}`,
    ...extra,
  });
  const row = async (id: string) =>
    (
      await db.query<{ status: string; due_at: Date; held_until: Date | null; hold_reason: string | null; skip_reason: string | null }>(
        'SELECT status, due_at, held_until, hold_reason, skip_reason FROM scheduled_messages WHERE id = $1',
        [id],
      )
    ).rows[0]!;

  it('quiet hours hold a message to the window end in the contact zone, and let transactional messages and overrides through', async () => {
    await putQuietHours(db, { tenantId: 'qh', channel: '*', appliesTo: 'type:nurture', starts: '00:00', ends: '23:59:59', mode: 'skip' });
    await putQuietHours(db, { tenantId: 'qh', channel: 'log', appliesTo: 'campaign:open-camp', starts: '00:00', ends: '00:01', mode: 'off' });
    // Scheduled before the window is laid: nothing claims here but claim() below, so they wait.
    const { ids } = await scheduleMessages(db, [
      message('qh', 'lh', 'campaign'),
      message('qh', 'lh', 'appointment-reminder'),
      message('qh', 'kol', 'campaign'),
      message('qh', 'lh', 'nurture'),
      message('qh', 'lh', 'campaign', { variables: { campaign: { id: 'open-camp' } } }),
    ]);
    const [held, transactional, tenantZone, skipped, overridden] = ids.sort((a, b) => Number(a) - Number(b));
    // A window from an hour ago to 4-5 s from now in Lord Howe's wall-clock time (crossing
    // midnight or not, as the time of day makes it); in Kolkata (the tenant's zone) it is not now.
    // The test waits the window out; only this one statement and the first claim must fall inside
    // it (the other policies and the rows are in place already), well under a second even on a
    // busy host, so 4 s (8 s before, when all of the setup was inside) leaves ample margin.
    const now = await databaseNow();
    const inLordHowe = (t: number) => DateTime.fromMillis(t, { zone: 'Australia/Lord_Howe' }).toFormat('HH:mm:ss');
    const endsAt = Math.ceil((now + 4_000) / 1_000) * 1_000;
    await putQuietHours(db, { tenantId: 'qh', channel: '*', appliesTo: '*', starts: inLordHowe(now - 3_600_000), ends: inLordHowe(endsAt), mode: 'hold' });

    const first = new Map((await claim()).map((r) => [r.id, r]));
    expect(first.get(held!)).toEqual(expect.objectContaining({ hold_reason: 'quiet-hours', held_until: new Date(endsAt), skip_reason: null }));
    expect(await row(held!)).toEqual(
      expect.objectContaining({ status: 'scheduled', due_at: new Date(endsAt), held_until: new Date(endsAt), hold_reason: 'quiet-hours' }),
    );
    for (const id of [transactional, tenantZone, overridden]) expect(first.get(id!)).toEqual(expect.objectContaining({ hold_reason: null, skip_reason: null }));
    expect((await row(transactional!)).status).toBe('claimed');
    expect(first.get(skipped!)).toEqual(expect.objectContaining({ skip_reason: 'quiet-hours' }));
    expect(await row(skipped!)).toEqual(expect.objectContaining({ status: 'skipped', skip_reason: 'quiet-hours' }));

    // Due again at the end: claimed once, then, and never before (the database's clock decides).
    const claimedAt: number[] = [];
    await waitFor(
      'the held message claimed at the end of the window',
      async () => {
        const before = await databaseNow();
        const got = (await claim()).filter((r) => r.id === held);
        if (got.length > 0) claimedAt.push(before);
        expect(got.every((r) => r.hold_reason === null && r.skip_reason === null)).toBe(true);
        return got.length > 0;
      },
      { limitMs: 30_000, everyMs: 200 },
    );
    expect(claimedAt).toHaveLength(1);
    expect(claimedAt[0]!).toBeGreaterThanOrEqual(endsAt - 1_000);
    expect(await row(held!)).toEqual(expect.objectContaining({ status: 'claimed', held_until: new Date(endsAt), hold_reason: 'quiet-hours' }));
    expect((await claim()).some((r) => r.id === held)).toBe(false);
  });

  it('a frequency cap admits N per contact, defers the rest to when the cap allows, and leaves transactional messages alone', async () => {
    await putFrequencyCap(db, { tenantId: 'fc', class: 'marketing', maxMessages: 2, periodSeconds: 3_600, mode: 'defer' });
    const { ids } = await scheduleMessages(db, [
      message('fc', 'k1', 'campaign'),
      message('fc', 'k1', 'nurture'),
      message('fc', 'k1', 'campaign'),
      message('fc', 'k1', 'appointment-reminder'),
      message('fc', 'k2', 'campaign'),
    ]);
    const [a, b, c, reminder, other] = ids.sort((x, y) => Number(x) - Number(y));
    const claimed = new Map((await claim()).map((r) => [r.id, r]));
    for (const id of [a, b, reminder, other]) expect(claimed.get(id!)).toEqual(expect.objectContaining({ hold_reason: null, skip_reason: null }));
    // Over the cap, with the two admitted ones in flight: deferred a period from now.
    expect(claimed.get(c!)).toEqual(expect.objectContaining({ hold_reason: 'frequency-cap' }));
    const deferred = await row(c!);
    expect(deferred.status).toBe('scheduled');
    const inAnHour = (await databaseNow()) + 3_600_000;
    expect(Math.abs(deferred.due_at.getTime() - inAnHour)).toBeLessThan(60_000);

    // Sent 50 and 20 minutes ago: a new one may go when the older leaves the hour, in 10 minutes.
    await db.query(`UPDATE scheduled_messages SET status = 'sent', sent_at = now() - interval '50 minutes' WHERE id = $1`, [a]);
    await db.query(`UPDATE scheduled_messages SET status = 'sent', sent_at = now() - interval '20 minutes' WHERE id = $1`, [b]);
    const { ids: later } = await scheduleMessages(db, [message('fc', 'k1', 'nurture')]);
    const [next] = await claim();
    expect(next).toEqual(expect.objectContaining({ id: later[0], hold_reason: 'frequency-cap' }));
    const expected = (await db.query<{ at: Date }>(`SELECT sent_at + interval '1 hour' AS at FROM scheduled_messages WHERE id = $1`, [a])).rows[0]!.at;
    expect((await row(later[0]!)).due_at).toEqual(expected);
  });

  it("a skipping cap skips 'frequency-cap', and the '*' cap counts every class but transactional", async () => {
    await putFrequencyCap(db, { tenantId: 'fc', class: 'followup', maxMessages: 1, periodSeconds: 86_400, mode: 'skip' });
    await putFrequencyCap(db, { tenantId: 'fc', class: '*', maxMessages: 2, periodSeconds: 86_400, mode: 'defer' });
    const { ids } = await scheduleMessages(db, [
      message('fc', 'k3', 'followup'),
      message('fc', 'k3', 'lead-reminder'),
      message('fc', 'k3', 'campaign'),
      message('fc', 'k3', 'nurture'),
      message('fc', 'k3', 'dunning'),
    ]);
    const [f1, f2, m1, m2, dunning] = ids.sort((x, y) => Number(x) - Number(y));
    const claimed = new Map((await claim()).map((r) => [r.id, r]));
    expect(claimed.get(f1!)).toEqual(expect.objectContaining({ hold_reason: null, skip_reason: null }));
    expect(claimed.get(f2!)).toEqual(expect.objectContaining({ skip_reason: 'frequency-cap' }));
    expect(await row(f2!)).toEqual(expect.objectContaining({ status: 'skipped', skip_reason: 'frequency-cap' }));
    // '*': the follow-up sent and the first marketing one fill it (the skipped one does not
    // count); the second waits a day; the transactional one goes.
    expect(claimed.get(m1!)).toEqual(expect.objectContaining({ hold_reason: null, skip_reason: null }));
    expect(claimed.get(m2!)).toEqual(expect.objectContaining({ hold_reason: 'frequency-cap' }));
    expect(claimed.get(dunning!)).toEqual(expect.objectContaining({ hold_reason: null, skip_reason: null }));
  });
});
