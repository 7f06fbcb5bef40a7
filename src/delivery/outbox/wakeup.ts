import type { Queryable } from '../../db/database';

/**
 * The NOTIFY channel that wakes dispatchers; the payload is the earliest new due time in epoch ms
 * ('0' when unknown: "look now"). The SQL door (migration 0009) notifies the same channel.
 */
export const WAKEUP_CHANNEL = 'crm_delivery_wakeup';

/** What a wake-up says: the earliest due time of the rows written, or only "look now". */
export type WakeUpPayload = 'earliest-due' | 'look-now';

/**
 * The one place the wake-up NOTIFY is written: the body of a CTE over `rows` (a CTE returning
 * due_at) that notifies once when that CTE wrote any row. In the writing statement itself, so no
 * row exists without its wake-up; the statement must read the CTE's count (a CTE nobody reads may
 * be optimised away, and with it the NOTIFY).
 */
export function wakeUpAfter(rows: string, payload: WakeUpPayload): string {
  return `SELECT ${notifyCall(payload === 'earliest-due' ? 'floor(extract(epoch FROM min(due_at)) * 1000)::bigint::text' : `'0'`)}
           FROM ${rows} HAVING count(*) > 0`;
}

/**
 * A wake-up on its own, for a writer whose rows came back without a due time to name, and for
 * the dispatcher's self-addressed ping that proves its LISTEN connection still delivers.
 */
export async function sendWakeUp(db: Queryable, payload = '0'): Promise<void> {
  await db.query(`SELECT ${notifyCall('$1::text')}`, [payload]);
}

function notifyCall(payloadSql: string): string {
  return `pg_notify('${WAKEUP_CHANNEL}', ${payloadSql})`;
}
