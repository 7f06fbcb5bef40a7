import type { Queryable } from '../db/database';
import { redactText } from '../logging/redact';
import { redriveMessages } from '../delivery/outbox/recovery';
import { CliError, type CliIo } from './cli-io';

async function requireOutbox(db: Queryable): Promise<void> {
  const found = await db.query<{ present: boolean }>(`SELECT to_regclass('scheduled_messages') IS NOT NULL AS present`);
  if (!found.rows[0]?.present) {
    throw new CliError(
      'dead: table scheduled_messages does not exist in this database. It comes with the delivery outbox ' +
        '(migration 0003); start a worker built with delivery, or run `npm run migrate` from such a build.',
      1,
    );
  }
}

interface DeadRow {
  id: string;
  tenant_id: string;
  channel: string;
  recipient: string;
  attempts: number;
  last_error: string | null;
  updated_at: Date;
}

/** `crm-worker dead list`: messages the delivery engine gave up on; recipients and errors masked. */
export async function listDead(db: Queryable, options: { limit: number; tenant?: string }, io: CliIo): Promise<number> {
  await requireOutbox(db);
  const rows = await db.query<DeadRow>(
    `SELECT id::text AS id, tenant_id, channel, recipient, attempts, last_error, updated_at
       FROM scheduled_messages
      WHERE status = 'dead' AND ($2::text IS NULL OR tenant_id = $2)
      ORDER BY updated_at DESC, id DESC
      LIMIT $1`,
    [options.limit, options.tenant ?? null],
  );
  if (rows.rows.length === 0) {
    io.out('no dead messages');
    return 0;
  }
  io.out(['ID', 'TENANT', 'CHANNEL', 'RECIPIENT', 'ATTEMPTS', 'DIED AT', 'LAST ERROR'].join('\t'));
  for (const r of rows.rows) {
    io.out(
      [
        r.id,
        r.tenant_id,
        r.channel,
        redactText(r.recipient),
        String(r.attempts),
        new Date(r.updated_at).toISOString(),
        redactText(r.last_error ?? '')
          .replace(/\s+/g, ' ')
          .slice(0, 160),
      ].join('\t'),
    );
  }
  return 0;
}

/**
 * `crm-worker dead redrive <id>`: a dead message back to 'scheduled', due now, attempts reset;
 * its last error and the redrive are kept in resolution. Only a message that is dead changes.
 */
export async function redriveDead(db: Queryable, id: string, operator: string, reason: string | undefined, io: CliIo): Promise<number> {
  if (!/^\d+$/.test(id)) throw new CliError(`dead redrive: id must be a message id (digits), got "${id}"`, 2);
  await requireOutbox(db);
  // The delivery outbox's own redrive: the same transition (and wake-up) as POST /api/delivery/redrive.
  const redriven = await redriveMessages(db, { status: 'dead', ids: [id], by: operator, reason });
  if (redriven.length === 0) {
    const current = await db.query<{ status: string }>('SELECT status FROM scheduled_messages WHERE id = $1::bigint', [id]);
    if (current.rows.length === 0) throw new CliError(`dead redrive: no message ${id}`, 1);
    throw new CliError(`dead redrive: message ${id} is ${current.rows[0]!.status}, not dead; left unchanged`, 1);
  }
  io.out(`message ${id} redriven: scheduled now`);
  return 0;
}
