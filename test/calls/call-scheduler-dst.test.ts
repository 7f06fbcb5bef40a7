import { DateTime } from 'luxon';
import { createCallSchedulerJob } from '../../src/calls/call-scheduler-job';
import { endUnansweredAttempt, replaceCallSettings } from '../../src/calls/call-store';
import { createTelephonyWebhook } from '../../src/calls/telephony-webhook';
import type { Database } from '../../src/db/database';
import { createInProcessLeaseLocks } from '../../src/locks/in-process-lease-locks';
import { createMetrics } from '../../src/metrics/metrics';
import type { JobDefinition } from '../../src/scheduler/job';
import { runTick, type TickDeps } from '../../src/scheduler/run-tick';
import { openMigratedDatabase, quietLogger } from '../support/harness';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { startTelephonySink } from '../fakes/telephony-sink';

/**
 * The call-scheduler driven by an injected clock through two simulated stretches of days around
 * the 2026 changes in America/New_York (2026-03-08 and 2026-11-01), ticking every 10 minutes,
 * with tenants in New York and Kolkata and a New York tenant calling a contact in Kolkata.
 * Every attempt is checked against the hours in the contact's zone, and against the first tick
 * at which it was allowed: no call outside hours, none late, none lost, none placed twice.
 */
const STEP_MS = 10 * 60_000;
const SPACING_S = 2 * 3600;
const MAX_ATTEMPTS = 3;

type Spec = Record<number, Array<[number, number]>>; // ISO weekday → [opens, closes) in minutes
const h = (hh: number, mm = 0) => hh * 60 + mm;
const TENANTS: Record<string, { zone: string; spec: Spec; holidays: string[] }> = {
  // Lunch break, and a holiday on the Monday after the spring change and after the autumn one.
  'acme-ny': {
    zone: 'America/New_York',
    spec: Object.fromEntries(
      [1, 2, 3, 4, 5, 6, 7].map((d) => [
        d,
        [
          [h(9), h(12)],
          [h(13), h(17)],
        ],
      ]),
    ),
    holidays: ['2026-03-09', '2026-11-02'],
  },
  'acme-in': { zone: 'Asia/Kolkata', spec: Object.fromEntries([1, 2, 3, 4, 5, 6].map((d) => [d, [[h(9, 30), h(18)]]])), holidays: [] },
};
const WEEKDAY_NAMES = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;

/** The definition of "open", written out here independently of src/calls/business-hours.ts. */
function allowed(t: number, zone: string, tenant: string): boolean {
  const { spec, holidays } = TENANTS[tenant]!;
  const local = DateTime.fromMillis(t, { zone });
  if (holidays.includes(local.toISODate()!)) return false;
  const minute = local.hour * 60 + local.minute;
  return (spec[local.weekday] ?? []).some(([o, c]) => minute >= o && minute < c);
}

/** The first simulated tick at or after `from` at which the call may ring. */
function firstAllowedTick(from: number, zone: string, tenant: string): number {
  let t = Math.ceil(from / STEP_MS) * STEP_MS;
  while (!allowed(t, zone, tenant)) t += STEP_MS;
  return t;
}

describe('call-scheduler across the 2026 daylight-saving changes (injected clock)', () => {
  let testDb: TestDatabase;
  let db: Database;
  let deps: TickDeps;
  let sink: Awaited<ReturnType<typeof startTelephonySink>>;
  let now = 0;
  let job: JobDefinition;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    sink = await startTelephonySink();
    deps = {
      db,
      locks: createInProcessLeaseLocks({ owner: 'test', logger: quietLogger }),
      metrics: createMetrics(),
      logger: quietLogger,
      instanceId: 'test',
      lockTtlMs: 30_000,
      shutdownSignal: new AbortController().signal,
    };
    job = createCallSchedulerJob({
      schedule: '0 */10 * * * *',
      webhook: createTelephonyWebhook({ url: sink.url, token: undefined, timeoutMs: 5_000 }),
      batchSize: 7, // smaller than the calls due at once, so the claim loop runs several batches
      retrySpacingSeconds: SPACING_S,
      outcomeTimeoutSeconds: 3600,
      clock: async () => new Date(now),
    });
    for (const [id, tenant] of Object.entries(TENANTS)) {
      await db.query(`INSERT INTO tenants (id, name, status, timezone) VALUES ($1, $1, 'active', $2)`, [id, tenant.zone]);
      const hours: Record<string, Array<{ opens: string; closes: string }>> = {};
      for (const [day, list] of Object.entries(tenant.spec)) {
        hours[WEEKDAY_NAMES[Number(day) - 1]!] = list.map(([o, c]) => ({
          opens: DateTime.fromObject({ hour: 0 }).plus({ minutes: o }).toFormat('HH:mm'),
          closes: DateTime.fromObject({ hour: 0 }).plus({ minutes: c }).toFormat('HH:mm'),
        }));
      }
      await db.transaction((tx) => replaceCallSettings(tx, id, { hours, holidays: tenant.holidays, maxAttempts: MAX_ATTEMPTS, retrySpacingSeconds: null }));
    }
  });
  afterAll(async () => {
    await sink.close();
    await db.close();
    await testDb.drop();
  });

  it.each([
    ['spring forward', '2026-03-06T00:00:00Z', '2026-03-12T00:00:00Z'],
    ['fall back', '2026-10-29T00:00:00Z', '2026-11-05T00:00:00Z'],
  ])('%s: every attempt inside hours at the first allowed tick, each once, none lost', async (_name, fromIso, untilIso) => {
    const from = Date.parse(fromIso);
    const until = Date.parse(untilIso);
    await db.query(`DELETE FROM calls`);
    sink.requests.length = 0;

    // Calls becoming due every 47 minutes over the first four days, round the clock.
    const calls: Array<{ id: string; tenant: string; zone: string; due: number }> = [];
    const kinds = [
      ['acme-ny', null],
      ['acme-in', null],
      ['acme-ny', 'Asia/Kolkata'], // a New York tenant calling a contact in Kolkata: the contact's hours
    ] as const;
    let n = 0;
    for (let due = from + 5 * 60_000; due < from + 4 * 86_400_000; due += 47 * 60_000, n++) {
      const [tenant, contactZone] = kinds[n % kinds.length]!;
      const inserted = await db.query<{ id: string }>(
        `INSERT INTO calls (tenant_id, to_number, contact_timezone, status, scheduled_for, next_attempt_at, max_attempts)
         VALUES ($1, '+15550100' || $2::text, $3, 'queued', $4, $4, $5) RETURNING id::text AS id`,
        [tenant, String(1000 + n), contactZone, new Date(due), MAX_ATTEMPTS],
      );
      calls.push({ id: inserted.rows[0]!.id, tenant, zone: contactZone ?? TENANTS[tenant]!.zone, due });
    }
    // Outcome policy per call: some answer at once, some on the second ring, some never.
    const neverAnswers = (i: number) => i % 7 === 0;
    const answersSecond = (i: number) => !neverAnswers(i) && i % 3 === 0;

    const placedAt = new Map<string, number>(); // callId#attempt → tick
    for (now = from; now < until; now += STEP_MS) {
      const before = sink.requests.length;
      const result = await runTick(deps, job, new Date(now));
      expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      for (const request of sink.requests.slice(before)) {
        const key = `${request.body.callId}#${request.body.attempt}`;
        expect(placedAt.has(key)).toBe(false);
        placedAt.set(key, now);
        const index = calls.findIndex((c) => c.id === request.body.callId);
        const call = calls[index]!;
        expect(request.body.timezone).toBe(call.zone);
        const answer = neverAnswers(index) || (answersSecond(index) && request.body.attempt === 1) ? 'no-answer' : 'completed';
        if (answer === 'completed') {
          await db.query(`UPDATE calls SET status = 'completed', ended_at = $2 WHERE id = $1`, [call.id, new Date(now)]);
        } else {
          await endUnansweredAttempt(
            db,
            { id: call.id, attempt: request.body.attempt },
            {
              status: 'no-answer',
              outcome: 'no-answer',
              error: null,
              retry: true,
              now: new Date(now),
              defaultSpacingSeconds: SPACING_S,
            },
          );
        }
      }
    }

    // 1. Nothing rang outside the contact's hours, and nothing rang later than the first tick allowed.
    const outside: string[] = [];
    const late: string[] = [];
    for (const [index, call] of calls.entries()) {
      let earliest = call.due;
      for (let attempt = 1; placedAt.has(`${call.id}#${attempt}`); attempt++) {
        const at = placedAt.get(`${call.id}#${attempt}`)!;
        const local = DateTime.fromMillis(at, { zone: call.zone }).toFormat('ccc yyyy-MM-dd HH:mm ZZ');
        if (!allowed(at, call.zone, call.tenant)) outside.push(`call ${index} attempt ${attempt} at ${local}`);
        const expected = firstAllowedTick(earliest, call.zone, call.tenant);
        if (at !== expected) late.push(`call ${index} attempt ${attempt} at ${local}, expected ${new Date(expected).toISOString()}`);
        earliest = at + SPACING_S * 1000;
      }
    }
    expect(outside).toEqual([]);
    expect(late).toEqual([]);

    // 2. None lost: every call reached its final state with the attempts its policy implies.
    const final = await db.query<{ id: string; status: string; attempts: number }>(`SELECT id::text AS id, status, attempts FROM calls ORDER BY calls.id`);
    const expectedFinal = calls.map((c, i) => ({
      id: c.id,
      status: neverAnswers(i) ? 'no-answer' : 'completed',
      attempts: neverAnswers(i) ? MAX_ATTEMPTS : answersSecond(i) ? 2 : 1,
    }));
    expect(final.rows).toEqual(expectedFinal);

    // 3. Each attempt reached the telephony side exactly once, under its own idempotency key.
    const keys = sink.requests.map((r) => r.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBe(expectedFinal.reduce((sum, c) => sum + c.attempts, 0));
    expect(calls.length).toBeGreaterThan(100);
  });

  it('pins the slots of calls due in the skipped and repeated hours to explicit instants', async () => {
    await db.query(`DELETE FROM calls`);
    sink.requests.length = 0;
    const enqueue = async (tenant: string, due: string, zone: string | null = null) =>
      (
        await db.query<{ id: string }>(
          `INSERT INTO calls (tenant_id, to_number, contact_timezone, status, next_attempt_at)
           VALUES ($1, '+15550109999', $3, 'queued', $2) RETURNING id::text AS id`,
          [tenant, due, zone],
        )
      ).rows[0]!.id;
    // Due Sunday 2026-03-08 02:30 EST-would-be (07:30Z = 03:30 EDT): next slot 09:00 EDT = 13:00Z.
    const spring = await enqueue('acme-ny', '2026-03-08T07:30:00Z');
    // Due Sunday 2026-11-01 01:30 EDT (05:30Z): next slot 09:00 EST = 14:00Z.
    const autumn = await enqueue('acme-ny', '2026-11-01T05:30:00Z');
    // Due at the same instant for a Kolkata contact: 11:00 IST, open, placed at once.
    const kolkata = await enqueue('acme-ny', '2026-11-01T05:30:00Z', 'Asia/Kolkata');

    // Fire times here are only fence keys; +1 ms keeps them apart from the simulation's ticks.
    now = Date.parse('2026-11-01T05:30:00Z');
    expect(await runTick(deps, job, new Date(now + 1))).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 1 }));
    const rows = await db.query<{ id: string; status: string; next_attempt_at: Date | null }>(
      'SELECT id::text AS id, status, next_attempt_at FROM calls ORDER BY calls.id',
    );
    expect(rows.rows).toEqual([
      { id: spring, status: 'queued', next_attempt_at: new Date('2026-11-01T14:00:00Z') }, // the spring call was overdue: next slot today
      { id: autumn, status: 'queued', next_attempt_at: new Date('2026-11-01T14:00:00Z') },
      { id: kolkata, status: 'dialing', next_attempt_at: null },
    ]);
    expect(sink.requests.map((r) => r.body.callId)).toEqual([kolkata]);

    await db.query(`UPDATE calls SET next_attempt_at = '2026-03-08T07:30:00Z' WHERE id = $1`, [spring]);
    now = Date.parse('2026-03-08T07:30:00Z');
    expect(await runTick(deps, job, new Date(now + 1))).toEqual(expect.objectContaining({ ran: true, items: 0 }));
    const springRow = await db.query<{ next_attempt_at: Date }>('SELECT next_attempt_at FROM calls WHERE id = $1', [spring]);
    expect(springRow.rows[0]!.next_attempt_at).toEqual(new Date('2026-03-08T13:00:00Z'));
  });
});
