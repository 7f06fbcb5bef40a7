import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DateTime } from 'luxon';
import { startWebhookSink, type SinkDelivery, type WebhookSink } from '../fakes/webhook-sink';
import { v1Client } from '../support/v1-client';
import { waitFor } from '../support/wait';
import { killAll, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { fastForward, fastForwardableClockEnv, skewedClockEnv } from '../support/faketime';
import { seedPgliteDir } from '../support/pglite-template';

const API_KEY = 'quiet-hours-dst-test-key-0123456789';
const SPEED = 30; // one real second is thirty fake seconds
const MINUTE = 60_000;
// How late after its window's end a held message may arrive, in fake time: five fake minutes are
// ten real seconds at x30, room for a claim and a send on a loaded machine. Never early.
const TOLERANCE_MS = 5 * MINUTE;

/**
 * Issue 14 end to end: quiet hours across both 2026 daylight-saving changes of America/New_York and
 * Australia/Lord_Howe (a 30-minute shift), with Asia/Kolkata (no DST) as a control, on real worker
 * processes (`node dist/main.js`) delivering to a local webhook sink.
 *
 * Which clock decides: the dispatcher decides due-ness and quiet hours in SQL with now(). Each
 * worker runs the embedded database (PGlite, in its own process) under libfaketime, so the worker's
 * timers and the database's now() read one and the same fake clock: it starts shortly before a
 * change night's window at real speed, runs x30 once the worker is up and the messages are
 * scheduled, and every instant asserted here (held_until, sent_at, the x-crm-timestamp the worker
 * signs each delivery with) is on that clock. The test's own (real) clock only paces the polling.
 *
 * The windows are set per tenant; the zone is the contact's. The expected instants are written out
 * (UTC, with the local wall clock in the comment); independently, luxon checks that no held
 * message was delivered at a wall-clock time inside its window and that the transactional ones were.
 */
interface Window {
  tenant: string;
  zone: string;
  starts: string;
  ends: string;
}

interface Message {
  key: string;
  tenant: string;
  type: 'campaign' | 'appointment-reminder';
  /** When it is scheduled for (UTC). */
  at: string;
  /** The end of the window it is held in (UTC); null when it must go at its time. */
  heldUntil: string | null;
}

interface Night {
  name: string;
  /** Where the fake clock starts (UTC), a little before the first message. */
  startUtc: string;
  windows: Window[];
  messages: Message[];
}

const NIGHTS: Night[] = [
  {
    // 2026-03-08 02:00 EST (07:00Z) → 03:00 EDT.
    name: 'new-york-spring',
    startUtc: '2026-03-08T06:40:00Z',
    windows: [
      { tenant: 'nys-across', zone: 'America/New_York', starts: '01:00', ends: '03:30' },
      { tenant: 'nys-gap', zone: 'America/New_York', starts: '01:00', ends: '02:30' }, // 02:30 does not exist
      { tenant: 'nys-kolkata', zone: 'Asia/Kolkata', starts: '12:00', ends: '13:00' }, // 06:30Z-07:30Z
    ],
    messages: [
      // 01:50 EST → 03:30 EDT: 1 h 40 min of wall clock, 40 min of real time.
      { key: 'nys-across-1', tenant: 'nys-across', type: 'campaign', at: '2026-03-08T06:50:00Z', heldUntil: '2026-03-08T07:30:00Z' },
      // 03:10 EDT, after the change, inside the same window.
      { key: 'nys-across-2', tenant: 'nys-across', type: 'campaign', at: '2026-03-08T07:10:00Z', heldUntil: '2026-03-08T07:30:00Z' },
      { key: 'nys-across-reminder', tenant: 'nys-across', type: 'appointment-reminder', at: '2026-03-08T06:52:00Z', heldUntil: null },
      // The end is skipped: the window ends at the jump (03:00 EDT).
      { key: 'nys-gap-1', tenant: 'nys-gap', type: 'campaign', at: '2026-03-08T06:50:00Z', heldUntil: '2026-03-08T07:00:00Z' },
      // 12:20 IST → 13:00 IST.
      { key: 'nys-kolkata-1', tenant: 'nys-kolkata', type: 'campaign', at: '2026-03-08T06:50:00Z', heldUntil: '2026-03-08T07:30:00Z' },
      { key: 'nys-kolkata-reminder', tenant: 'nys-kolkata', type: 'appointment-reminder', at: '2026-03-08T06:55:00Z', heldUntil: null },
    ],
  },
  {
    // 2026-11-01 02:00 EDT (06:00Z) → 01:00 EST: 01:00-02:00 happens twice. This night is two
    // processes: this one up to the change, the next one through the repeated hour. As one, it was
    // the suite's longest file (85 fake minutes at x30); each half runs beside the other nights.
    name: 'new-york-autumn',
    startUtc: '2026-11-01T05:05:00Z',
    windows: [
      { tenant: 'nya-back', zone: 'America/New_York', starts: '01:30', ends: '02:00' },
      { tenant: 'nya-twice', zone: 'America/New_York', starts: '00:30', ends: '01:30' },
    ],
    messages: [
      // 01:40 EDT: at 06:00Z the wall clock turns back to 01:00 EST, outside 01:30-02:00.
      { key: 'nya-back-1', tenant: 'nya-back', type: 'campaign', at: '2026-11-01T05:40:00Z', heldUntil: '2026-11-01T06:00:00Z' },
      // 01:10 EDT → the first 01:30 (EDT).
      { key: 'nya-twice-1', tenant: 'nya-twice', type: 'campaign', at: '2026-11-01T05:10:00Z', heldUntil: '2026-11-01T05:30:00Z' },
      // 01:45 EDT is outside 00:30-01:30: not held.
      { key: 'nya-twice-outside', tenant: 'nya-twice', type: 'campaign', at: '2026-11-01T05:45:00Z', heldUntil: null },
    ],
  },
  {
    // The same night from 01:55 EDT (05:55Z), five minutes before the change: the repeated hour.
    name: 'new-york-autumn-repeat',
    startUtc: '2026-11-01T05:55:00Z',
    windows: [{ tenant: 'nya-twice', zone: 'America/New_York', starts: '00:30', ends: '01:30' }],
    messages: [
      // 01:05 EST, the window again in the repeated hour → the second 01:30 (EST).
      { key: 'nya-twice-2', tenant: 'nya-twice', type: 'campaign', at: '2026-11-01T06:05:00Z', heldUntil: '2026-11-01T06:30:00Z' },
      { key: 'nya-twice-reminder', tenant: 'nya-twice', type: 'appointment-reminder', at: '2026-11-01T06:10:00Z', heldUntil: null },
    ],
  },
  {
    // 2026-04-05 02:00 LHDT (+11, 2026-04-04T15:00Z) → 01:30 LHST (+10:30).
    name: 'lord-howe-april',
    startUtc: '2026-04-04T14:45:00Z',
    windows: [
      { tenant: 'lha-back', zone: 'Australia/Lord_Howe', starts: '01:45', ends: '02:30' },
      { tenant: 'lha-across', zone: 'Australia/Lord_Howe', starts: '01:00', ends: '02:15' },
      { tenant: 'lha-kolkata', zone: 'Asia/Kolkata', starts: '20:00', ends: '21:00' }, // 14:30Z-15:30Z
    ],
    messages: [
      // 01:50 LHDT: at 15:00Z the wall clock turns back to 01:30 LHST, outside 01:45-02:30.
      { key: 'lha-back-1', tenant: 'lha-back', type: 'campaign', at: '2026-04-04T14:50:00Z', heldUntil: '2026-04-04T15:00:00Z' },
      // 01:50 LHDT → 02:15 LHST: 25 min of wall clock, 55 min of real time.
      { key: 'lha-across-1', tenant: 'lha-across', type: 'campaign', at: '2026-04-04T14:50:00Z', heldUntil: '2026-04-04T15:45:00Z' },
      { key: 'lha-across-reminder', tenant: 'lha-across', type: 'appointment-reminder', at: '2026-04-04T14:55:00Z', heldUntil: null },
      // 20:20 IST → 21:00 IST.
      { key: 'lha-kolkata-1', tenant: 'lha-kolkata', type: 'campaign', at: '2026-04-04T14:50:00Z', heldUntil: '2026-04-04T15:30:00Z' },
    ],
  },
  {
    // 2026-10-04 02:00 LHST (+10:30, 2026-10-03T15:30Z) → 02:30 LHDT (+11).
    name: 'lord-howe-october',
    startUtc: '2026-10-03T15:10:00Z',
    windows: [
      { tenant: 'lho-across', zone: 'Australia/Lord_Howe', starts: '01:00', ends: '03:00' },
      { tenant: 'lho-gap', zone: 'Australia/Lord_Howe', starts: '01:00', ends: '02:15' }, // 02:15 does not exist
    ],
    messages: [
      // 01:50 LHST → 03:00 LHDT: 70 min of wall clock, 40 min of real time.
      { key: 'lho-across-1', tenant: 'lho-across', type: 'campaign', at: '2026-10-03T15:20:00Z', heldUntil: '2026-10-03T16:00:00Z' },
      { key: 'lho-across-reminder', tenant: 'lho-across', type: 'appointment-reminder', at: '2026-10-03T15:25:00Z', heldUntil: null },
      // The end is skipped: the window ends at the jump (02:30 LHDT).
      { key: 'lho-gap-1', tenant: 'lho-gap', type: 'campaign', at: '2026-10-03T15:20:00Z', heldUntil: '2026-10-03T15:30:00Z' },
    ],
  },
];

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether the wall clock in the window's zone at `t` is inside [starts, ends) (luxon, not the worker). */
function insideWindow(t: number, w: Window): boolean {
  const local = DateTime.fromMillis(t, { zone: w.zone });
  const m = local.hour * 60 + local.minute;
  const [s, e] = [minutesOf(w.starts), minutesOf(w.ends)];
  return s < e ? m >= s && m < e : m >= s || m < e;
}

/**
 * GET on a fresh connection. Node's HTTP server drops an idle keep-alive connection after 5 s of
 * its clock, which here runs x30 (under 0.2 real seconds): a reused socket would race that close
 * (ECONNRESET). Only for reads after the speed-up; the set-up goes through v1Client at real speed.
 */
function getFresh(port: number, pathname: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/api${pathname}`, agent: false, headers: { 'x-api-key': API_KEY } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`GET ${pathname}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on('error', reject);
  });
}

/** The delivery instant on the worker's clock: the x-crm-timestamp it signed the request with (whole seconds). */
const deliveredAt = (d: SinkDelivery): number => Number(d.headers['x-crm-timestamp']) * 1_000;

describe('quiet hours across the 2026 daylight-saving changes, on worker processes under a fast fake clock', () => {
  const workers: WorkerProcess[] = [];
  let sink: WebhookSink;
  let dir = '';
  beforeAll(async () => {
    sink = await startWebhookSink({ secret: 'quiet-hours-dst' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-qh-dst-'));
  });
  afterAll(async () => {
    await killAll(workers);
    await sink?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const faketimeInstalled = skewedClockEnv('+0') !== undefined;

  /** Starts the night's worker, sets its windows and schedules its messages at real speed, then speeds up. */
  async function runNight(night: Night): Promise<WorkerProcess> {
    const clockFile = path.join(dir, `${night.name}.faketimerc`);
    const dataDir = path.join(dir, `${night.name}-pglite`);
    // initdb done once for the run (pglite-template.ts): four at once under libfaketime took 22 s each.
    seedPgliteDir(dataDir);
    const worker = spawnWorker(night.name, {
      ...fastForwardableClockEnv(clockFile, night.startUtc),
      // The embedded database in the worker's process: its now() is the fake clock too.
      PGLITE_DATA_DIR: dataDir,
      API_KEY,
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      WEBHOOK_TARGETS: `sink=${sink.url}`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_SECRET: 'quiet-hours-dst',
      // Durations the worker measures run on the fake clock too: long in fake time, so a slow
      // real second on a loaded machine does not time a send or a query out.
      DELIVERY_SEND_TIMEOUT_MS: '600000',
      DELIVERY_LEASE_MS: '3600000',
      DELIVERY_MAX_SLEEP_MS: '60000',
      TEMPLATE_RENDER_LIMIT_MS: '5000',
      DB_QUERY_TIMEOUT_MS: '600000',
      DB_API_ACQUIRE_TIMEOUT_MS: '60000',
      DB_ACQUIRE_TIMEOUT_MS: '600000',
      HEALTH_CHECK_TIMEOUT_MS: '30000',
      HEALTH_PROBE_INTERVAL_MS: '60000',
      SHUTDOWN_TIMEOUT_MS: '600000',
    });
    workers.push(worker);
    await waitUntilStarted(worker, 120_000);
    const call = v1Client(() => worker, API_KEY);
    for (const w of night.windows) {
      // The tenant's zone is UTC: the contact's zone is the one that must count.
      expect((await call('PUT', `/v1/tenants/${w.tenant}`, { name: w.tenant, status: 'active', timezone: 'UTC' })).status).toBe(201);
      expect((await call('PUT', `/v1/contacts/${w.tenant}-contact`, { tenantId: w.tenant, timezone: w.zone })).status).toBe(201);
      expect((await call('PUT', '/v1/quiet-hours', { tenantId: w.tenant, channel: 'webhook', starts: w.starts, ends: w.ends })).status).toBe(201);
    }
    const posted = await call('POST', '/v1/messages', {
      messages: night.messages.map((m) => ({
        tenantId: m.tenant,
        contactId: `${m.tenant}-contact`,
        channel: 'webhook',
        recipient: 'sink',
        scheduledAt: m.at,
        template: 'Message {{ key }}',
        variables: { key: m.key },
        type: m.type,
        idempotencyKey: m.key,
      })),
    });
    expect(posted.body).toEqual(expect.objectContaining({ scheduled: night.messages.length }));
    // The request also has the worker read its clock, from which libfaketime speeds it up (fastForward).
    const readyAt = Date.parse((await worker.get('/health')).json().timestamp);
    fastForward(clockFile, night.startUtc, SPEED);
    const first = Math.min(...night.messages.map((m) => Date.parse(m.at)));
    if (readyAt >= first) throw new Error(`${night.name}: the worker was ready only at ${new Date(readyAt).toISOString()}`);
    return worker;
  }

  (faketimeInstalled ? it : it.skip)(
    'nothing is delivered inside a window, each held message once at its end, a transactional one inside',
    async () => {
      // One process per night (the New York autumn night in two), side by side: each has its own clock.
      const started = await Promise.all(NIGHTS.map((n) => runNight(n)));
      const keys = NIGHTS.flatMap((n) => n.messages.map((m) => m.key));
      // Progress, not a window: every key delivered (at x30 the longest, Lord Howe in April, is two real minutes).
      await waitFor('every message delivered', () => keys.every((k) => sink.deliveredKeys().has(k)), { limitMs: 360_000, everyMs: 500 });

      for (const [i, night] of NIGHTS.entries()) {
        for (const w of night.windows) {
          const view = { body: await getFresh(started[i]!.port(), `/v1/messages?tenantId=${w.tenant}`) };
          for (const m of night.messages.filter((x) => x.tenant === w.tenant)) {
            const got = sink.deliveries.filter((d) => d.key === m.key);
            expect({ key: m.key, deliveries: got.length, signed: got[0]?.signatureValid }).toEqual({ key: m.key, deliveries: 1, signed: true });
            const at = deliveredAt(got[0]!);
            const from = Date.parse(m.heldUntil ?? m.at);
            const report = { key: m.key, deliveredAt: new Date(at).toISOString() };
            // Never before its time (or its window's end), at most TOLERANCE_MS after it.
            expect({ ...report, early: at < from, late: at > from + TOLERANCE_MS }).toEqual({ ...report, early: false, late: false });
            // The wall clock in the contact's zone, read by luxon: inside only for the transactional one.
            expect({ ...report, inside: insideWindow(at, w) }).toEqual({ ...report, inside: m.type === 'appointment-reminder' });
            const row = (view.body.items as Array<Record<string, unknown>>).find((r) => r['idempotencyKey'] === m.key);
            // held_until is the window's end as the database computed it, on the same clock.
            expect(row).toEqual(
              expect.objectContaining({
                status: 'sent',
                holdReason: m.heldUntil ? 'quiet-hours' : null,
                heldUntil: m.heldUntil ? new Date(m.heldUntil).toISOString() : null,
              }),
            );
            expect(Date.parse(String(row!['sentAt']))).toBeGreaterThanOrEqual(from);
          }
        }
      }
      expect(sink.duplicates).toEqual([]);
      expect(sink.overlaps).toEqual([]);
    },
    480_000,
  );
});
