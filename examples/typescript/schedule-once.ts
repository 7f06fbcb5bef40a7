/**
 * A CRM application that embeds crm-worker: it starts the worker in its own process, schedules a
 * webhook message inside its own PostgreSQL transaction, and waits until the worker has sent it.
 * A second message is scheduled in a transaction that rolls back: it never exists, so it is
 * never sent. test/package/packed-install.test.ts installs the packed package and runs this file.
 *
 * Settings come from the environment, as for the worker itself (.env.example lists them all):
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm \
 *   WEBHOOK_TARGETS=crm=https://crm.example.com/hooks/worker \
 *   JOBS_ENABLED=false PORT=0 node dist/schedule-once.js
 *
 * It prints one JSON line per step and exits 0 once the message is sent.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { loadConfig, pgTransaction, startWorker, type MessageView, type ScheduleRequest } from 'crm-worker';

const TENANT = 'example-tenant';
const SEND_IN_MS = Number(process.env.EXAMPLE_SEND_IN_MS ?? 2_000);

function report(event: string, details: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event, ...details }) + '\n');
}

/** One webhook message to the WEBHOOK_TARGETS entry named "crm". */
function followUp(idempotencyKey: string, scheduledAt: Date): ScheduleRequest {
  return {
    tenantId: TENANT,
    channel: 'webhook',
    recipient: 'crm',
    scheduledAt,
    template: 'Call back {{ contact }} about the proposal',
    variables: { contact: 'Ann' },
    idempotencyKey,
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  // Migrates the database first, so the application's transactions below find the tables.
  const worker = await startWorker({ config });
  const pool = new Pool({ connectionString: config.database.url });
  try {
    const key = `example-${randomUUID()}`;
    const scheduledAt = new Date(Date.now() + SEND_IN_MS);

    const client = await pool.connect();
    try {
      // The application's own write and the message commit together.
      await client.query('BEGIN');
      await client.query(`INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [TENANT, 'Example tenant']);
      const result = await worker.followUps.schedule([followUp(key, scheduledAt)], pgTransaction(client));
      await client.query('COMMIT');
      report('scheduled', { key, scheduledAt: scheduledAt.toISOString(), scheduled: result.scheduled });

      // A message in a transaction that rolls back is never stored, so it is never sent.
      await client.query('BEGIN');
      await worker.followUps.schedule([followUp(`${key}-rolled-back`, scheduledAt)], pgTransaction(client));
      await client.query('ROLLBACK');
      report('rolled-back', { key: `${key}-rolled-back` });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }

    const sent = await waitUntilFinal(() => worker.followUps.get({ idempotencyKey: key, tenantId: TENANT }));
    report('final', { key, status: sent.status, sentAt: sent.sentAt, attempts: sent.attempts });
    const rolledBack = await worker.followUps.get({ idempotencyKey: `${key}-rolled-back`, tenantId: TENANT });
    report('rolled-back-stored', { stored: rolledBack !== undefined });
    if (sent.status !== 'sent') process.exitCode = 1;
  } finally {
    await pool.end();
    await worker.stop();
  }
}

/** Polls the message until it leaves the pending states (sent, or failed/dead/skipped/unknown). */
async function waitUntilFinal(read: () => Promise<MessageView | undefined>): Promise<MessageView> {
  const pending = new Set(['scheduled', 'claimed', 'sending']);
  const giveUpAt = Date.now() + SEND_IN_MS + 60_000;
  for (;;) {
    const message = await read();
    if (message && !pending.has(message.status)) return message;
    if (Date.now() > giveUpAt) throw new Error(`message still ${message?.status ?? 'missing'} after a minute past its time`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
