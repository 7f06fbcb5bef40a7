import { Agent, request } from 'undici';
import { Pool } from 'pg';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../src/channels/webhook-channel';
import { createTemplateEngine } from '../../src/templates/template-engine';

/**
 * The peers' handler in the fair benches: what the design's follow-up worker does per job
 * (docs: shared reference 004, "followUpWorker.js ... Process Flow"), and what crm-worker does
 * per message, with the same clients:
 *   1. read the follow-up row from PostgreSQL (one SELECT by primary key);
 *   2. skip it if it is sent or cancelled;
 *   3. render its template with crm-worker's own template engine (liquid, parsed-template cache);
 *   4. POST it as JSON to the one webhook sink, signed with crm-worker's webhookSignature
 *      (HMAC-SHA256 over "<timestamp>.<body>"), with the idempotency key in its header, through an
 *      undici Agent with crm-worker's settings (64 kept-alive connections per origin);
 *   5. mark it sent (one UPDATE … WHERE status = 'scheduled').
 * A non-2xx answer throws, so the queue's own retry takes over, as in the design.
 * The PostgreSQL pool has crm-worker's dispatcher pool size (DB_DISPATCHER_POOL_MAX, default 8).
 * The design's AI personalisation is off on these rows, as it is on crm-worker's.
 */

/** crm-worker's DB_DISPATCHER_POOL_MAX default: the pool its sends run their SQL through. */
export const FAIR_POOL_MAX = 8;
/** crm-worker's webhook Agent: `new Agent({ connections: 64 })` (src/channels/webhook-channel.ts). */
export const FAIR_HTTP_CONNECTIONS = 64;
export const FOLLOWUP_TABLE = 'bench_followups';

/** The peers' follow-up table: the design's contractor_followup_schedules, reduced to what a send reads. */
export const FOLLOWUP_DDL = `CREATE TABLE IF NOT EXISTS ${FOLLOWUP_TABLE} (
  id bigint PRIMARY KEY,
  tenant_id text NOT NULL,
  contact_id text,
  recipient text NOT NULL,
  type text NOT NULL,
  status text NOT NULL DEFAULT 'scheduled',
  message_template text NOT NULL,
  variables jsonb NOT NULL,
  idempotency_key text NOT NULL,
  scheduled_time timestamptz NOT NULL,
  sent_at timestamptz,
  sent_by text
)`;

export interface FollowupRow {
  id: number;
  tenantId: string;
  contactId: string;
  /** The sink's target name, as in crm-worker's rows (WEBHOOK_TARGETS=sink=<url>). */
  recipient: string;
  type: string;
  template: string;
  variables: Record<string, unknown>;
  idempotencyKey: string;
  scheduledTime: Date;
}

/** Inserts follow-up rows in slices (the producer's side: scheduleFollowUp's INSERT). */
export async function insertFollowups(pool: Pool, rows: readonly FollowupRow[]): Promise<void> {
  const SLICE = 2_000;
  for (let i = 0; i < rows.length; i += SLICE) {
    const part = rows.slice(i, i + SLICE);
    await pool.query(
      `INSERT INTO ${FOLLOWUP_TABLE} (id, tenant_id, contact_id, recipient, type, message_template, variables, idempotency_key, scheduled_time)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::timestamptz[])`,
      [
        part.map((r) => r.id),
        part.map((r) => r.tenantId),
        part.map((r) => r.contactId),
        part.map((r) => r.recipient),
        part.map((r) => r.type),
        part.map((r) => r.template),
        part.map((r) => JSON.stringify(r.variables)),
        part.map((r) => r.idempotencyKey),
        part.map((r) => r.scheduledTime.toISOString()),
      ],
    );
  }
}

export interface FollowupWork {
  /** Handles one job whose data names the follow-up row; resolves when it is marked sent (or skipped). */
  handle(id: number, attempt: number): Promise<'sent' | 'skipped'>;
  close(): Promise<void>;
}

export function followupWork(options: { databaseUrl: string; sinkUrl: string; secret: string; sentBy: string }): FollowupWork {
  const pool = new Pool({ connectionString: options.databaseUrl, max: FAIR_POOL_MAX });
  pool.on('error', (err) => process.stderr.write(`[peer] idle postgres client error: ${err.message}\n`));
  const agent = new Agent({ connections: FAIR_HTTP_CONNECTIONS });
  const templates = createTemplateEngine();
  const url = new URL(options.sinkUrl);

  return {
    async handle(id, attempt) {
      const found = await pool.query<{
        id: string;
        tenant_id: string;
        contact_id: string | null;
        recipient: string;
        type: string;
        status: string;
        message_template: string;
        variables: Record<string, unknown>;
        idempotency_key: string;
        scheduled_time: Date;
      }>(
        `SELECT id::text AS id, tenant_id, contact_id, recipient, type, status, message_template, variables, idempotency_key, scheduled_time
           FROM ${FOLLOWUP_TABLE} WHERE id = $1`,
        [id],
      );
      const row = found.rows[0];
      if (!row || row.status === 'sent' || row.status === 'cancelled') return 'skipped';
      // The body crm-worker's webhook channel sends: same fields, same order.
      const body = JSON.stringify({
        id: row.id,
        tenant_id: row.tenant_id,
        type: row.type,
        subject: undefined,
        message: templates.render(row.message_template, row.variables),
        idempotency_key: row.idempotency_key,
        contact_id: row.contact_id,
        lead_id: null,
        recipient: row.recipient,
        scheduled_at: row.scheduled_time.toISOString(),
        attempt: attempt,
      });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        body,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          [IDEMPOTENCY_HEADER]: row.idempotency_key,
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: webhookSignature(options.secret, timestamp, body),
          'user-agent': 'bench-peer',
        },
      });
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`sink answered ${response.statusCode}`);
      await pool.query(`UPDATE ${FOLLOWUP_TABLE} SET status = 'sent', sent_at = now(), sent_by = $2 WHERE id = $1 AND status = 'scheduled'`, [
        id,
        options.sentBy,
      ]);
      return 'sent';
    },
    async close() {
      await agent.destroy().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
