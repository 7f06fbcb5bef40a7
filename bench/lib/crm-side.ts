import http from 'node:http';
import { Pool } from 'pg';
import type { Queryable, QueryResult } from '../../src/db/database';
import { scheduleMessages, type ScheduleRequest } from '../../src/delivery/outbox';
import { preciseNow, type RecorderReport } from './recorder';

export function poolQueryable(pool: Pool): Queryable {
  return {
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const r = await pool.query(text, params as unknown[] | undefined);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
    async exec(script: string) {
      await pool.query(script);
    },
  };
}

export const BENCH_TENANT = 'bench-tenant';
/** The webhook target name the worker is given (WEBHOOK_TARGETS=sink=<url>). */
export const SINK_TARGET = 'sink';

/**
 * Schedules webhook messages through the outbox API, the way the CRM application does; each
 * idempotency key ends in the message's due time so the sink can compute lag without a lookup.
 */
export async function scheduleThroughOutbox(pool: Pool, run: string, dues: number[], schedule: typeof scheduleMessages = scheduleMessages): Promise<void> {
  const db = poolQueryable(pool);
  await pool.query(`INSERT INTO tenants (id, name, status, followup_enabled) VALUES ($1, 'bench', 'active', true) ON CONFLICT (id) DO NOTHING`, [BENCH_TENANT]);
  const SLICE = 2_000;
  for (let start = 0; start < dues.length; start += SLICE) {
    const requests = dues.slice(start, start + SLICE).map((due, k): ScheduleRequest => ({
      tenantId: BENCH_TENANT,
      contactId: `contact-${start + k}`,
      channel: 'webhook',
      recipient: SINK_TARGET,
      scheduledAt: new Date(due),
      template: 'bench message {{ n }}',
      variables: { n: start + k },
      type: 'bench',
      idempotencyKey: `${run}:${start + k}:${due}`,
    }));
    await schedule(db, requests);
  }
}

/** One webhook message of a fair bench: its idempotency key ends in its due time (the sink reads lag from it). */
export interface BenchMessage {
  tenantId: string;
  /** Picks the class: 'bench' is a follow-up, 'campaign' marketing, 'appointment-reminder' transactional. */
  type: string;
  n: number;
  due: number;
  key: string;
}

/** The tenant rows the outbox's tenant checks read; follow-ups enabled. */
export async function ensureTenants(pool: Pool, tenantIds: readonly string[]): Promise<void> {
  for (const id of tenantIds) {
    await pool.query(`INSERT INTO tenants (id, name, status, followup_enabled) VALUES ($1, $1, 'active', true) ON CONFLICT (id) DO NOTHING`, [id]);
  }
}

/** Schedules webhook messages to the sink target through the outbox API, in slices. */
export async function scheduleBenchMessages(pool: Pool, messages: readonly BenchMessage[]): Promise<void> {
  const db = poolQueryable(pool);
  const SLICE = 2_000;
  for (let start = 0; start < messages.length; start += SLICE) {
    await scheduleMessages(
      db,
      messages.slice(start, start + SLICE).map((m): ScheduleRequest => ({
        tenantId: m.tenantId,
        contactId: `contact-${m.n}`,
        channel: 'webhook',
        recipient: SINK_TARGET,
        scheduledAt: new Date(m.due),
        template: 'bench message {{ n }}',
        variables: { n: m.n },
        type: m.type,
        idempotencyKey: m.key,
      })),
    );
  }
}

/**
 * A no-op webhook receiver: answers 200 at once and records when each message arrived. Its
 * receipt time stands in for "handler start" (it is later than the dispatcher's handler start
 * by the HTTP round trip, so crm-worker's lag is if anything overstated).
 */
export async function startNoopSink(expected: number, keepLags: boolean) {
  const report: RecorderReport = { handled: 0, expected, lags: [], firstStart: null, lastStart: null, cappedAfterMs: null };
  const seen = new Set<string>();
  let duplicates = 0;
  let onDone: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    const arrived = preciseNow();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      let key = req.headers['idempotency-key'];
      if (typeof key !== 'string') {
        try {
          key = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { idempotency_key?: string }).idempotency_key);
        } catch {
          return;
        }
      }
      if (seen.has(key)) {
        duplicates++;
        return;
      }
      seen.add(key);
      const due = Number(key.split(':').pop());
      report.handled++;
      if (keepLags) report.lags.push(arrived - due);
      report.firstStart ??= arrived;
      report.lastStart = arrived;
      if (report.handled >= expected) onDone?.();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    report,
    duplicates: () => duplicates,
    /** Resolves when all expected messages arrived or capMs passed (then cappedAfterMs is set). */
    waitForAll(capMs: number, startedAt: number): Promise<RecorderReport> {
      return new Promise((resolve) => {
        if (report.handled >= expected) return resolve(report);
        const timer = setTimeout(() => {
          report.cappedAfterMs = Math.round(preciseNow() - startedAt);
          resolve(report);
        }, capMs);
        onDone = () => {
          clearTimeout(timer);
          resolve(report);
        };
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
