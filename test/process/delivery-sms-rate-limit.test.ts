import type { Database } from '../../src/db/database';
import { scheduleMessages } from '../../src/delivery/outbox';
import { startFakeTwilio, type FakeTwilio } from '../fakes/fake-twilio';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { reserveConnectionsForFile } from '../support/connection-budget';

/** The value of crm_worker_delivery_sends_total{channel="sms",result} in one worker's /metrics. */
async function smsSends(worker: WorkerProcess, result: string): Promise<number> {
  const text = (await worker.get('/metrics', { accept: 'text/plain' })).body;
  const line = text
    .split('\n')
    .find((l) => l.startsWith('crm_worker_delivery_sends_total{') && l.includes('channel="sms"') && l.includes(`result="${result}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(27);

describe('delivery: the SMS limit of 10 per minute holds across two worker processes', () => {
  const fixture = useProcessFixture();
  let twilio: FakeTwilio;
  let db: Database;

  beforeAll(async () => {
    twilio = await startFakeTwilio();
  });
  afterAll(async () => {
    await db?.close();
    await twilio.close();
  });

  it('sends 10 of 30 due SMS in the minute, whichever process claims them; the rest wait', async () => {
    const env = {
      ...fixture.serviceEnv(),
      LOG_LEVEL: 'info',
      JOBS_ENABLED: 'false',
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_AUTH_TOKEN: twilio.authToken,
      TWILIO_API_BASE_URL: twilio.baseUrl,
      TWILIO_SMS_FROM: '+15005550006',
      // DELIVERY_RATE_LIMITS is left at its default, sms=10/1m (design 004).
    };
    const workers = [fixture.spawn('sms-1', env), fixture.spawn('sms-2', env)];
    await Promise.all(workers.map((w) => waitUntilStarted(w)));
    await Promise.all(workers.map((w) => w.waitForLog('dispatcher', (l) => l.message === 'delivery dispatcher started')));
    expect(workers[0]!.logs.find((l) => l.message === 'delivery dispatcher started')).toEqual(
      expect.objectContaining({ rateLimitStore: 'redis', rateLimits: { sms: { points: 10, durationSeconds: 60 } } }),
    );

    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant one')`);
    const at = new Date(Date.now() + 1_000);
    await scheduleMessages(
      db,
      Array.from({ length: 30 }, (_, i) => ({
        tenantId: 't1',
        contactId: `c${i}`,
        channel: 'sms' as const,
        recipient: `+1415555${String(1000 + i)}`,
        scheduledAt: at,
        template: 'Reminder {{ n }}',
        variables: { n: i },
        idempotencyKey: `sms-${i}`,
      })),
    );

    // Both processes took SMS from the outbox and both were held back by the shared limit.
    await waitFor(
      'both processes limited',
      async () => {
        const limited = await Promise.all(workers.map((w) => smsSends(w, 'rate_limited')));
        return limited.every((n) => n > 0);
      },
      { limitMs: 50_000 },
    );
    // One process can be turned back while the other's sends are still in flight (a loaded run
    // counted 6 sent here), and rows the limit is turning back are 'claimed' or 'sending' for a
    // moment: wait until ten are sent and no row is between states, then count everything.
    const rows = await waitFor('ten sent and every row settled', async () => {
      const result = await db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM scheduled_messages GROUP BY status ORDER BY status`);
      const unsettled = result.rows.some((r) => r.status === 'claimed' || r.status === 'sending');
      const sentRows = Number(result.rows.find((r) => r.status === 'sent')?.n ?? 0);
      return unsettled || sentRows < 10 ? undefined : result;
    });
    expect(rows.rows.map((r) => [r.status, Number(r.n)])).toEqual([
      ['scheduled', 20],
      ['sent', 10],
    ]);
    const sent = await Promise.all(workers.map((w) => smsSends(w, 'sent')));
    expect(sent[0]! + sent[1]!).toBe(10);
    expect(twilio.messages).toHaveLength(10);
    // The SMS the limit turned back wait for the next minute's budget, their attempt not used up.
    const deferred = await db.query<{ due_in_s: string; attempts: number }>(
      `SELECT extract(epoch FROM due_at - now()) AS due_in_s, attempts FROM scheduled_messages
        WHERE status = 'scheduled' AND last_error LIKE 'rate limit%'`,
    );
    expect(deferred.rows.length).toBeGreaterThanOrEqual(2);
    for (const row of deferred.rows) {
      expect(Number(row.due_in_s)).toBeGreaterThan(30);
      expect(row.attempts).toBe(0);
    }
    for (const w of workers) w.kill('SIGTERM');
    expect((await Promise.all(workers.map((w) => w.waitForExit()))).map((e) => e.code)).toEqual([0, 0]);
    expect(twilio.messages).toHaveLength(10);
  });
});
