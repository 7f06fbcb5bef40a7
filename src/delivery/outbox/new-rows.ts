/**
 * The columns a new outbox row is written with, in one list: scheduleMessages, the next
 * occurrence of a recurring message and the campaign expansion all insert through
 * insertOutboxRows, so a column added to the outbox contract is added here once.
 */
export const NEW_ROW_COLUMNS = [
  'tenant_id',
  'contact_id',
  'lead_id',
  'channel',
  'recipient',
  'scheduled_at',
  'due_at',
  'template',
  'subject',
  'variables',
  'tone',
  'type',
  'class',
  'status',
  'personalize',
  'context_hints',
  'idempotency_key',
  'skip_if_completed',
  'action_item_id',
  'stop_on_reply',
  'recurrence_interval_seconds',
  'request_fingerprint',
  'previous_occurrence_id',
  'traceparent',
] as const;

export type NewRowColumn = (typeof NEW_ROW_COLUMNS)[number];

/**
 * INSERT ... SELECT of new outbox rows, as the body of a CTE: `values` gives each column's SQL
 * expression over `from` (columns left out take their defaults: 'scheduled', no attempts). A
 * key already used in the tenant is a duplicate, not an error (ON CONFLICT DO NOTHING). The
 * RETURNING list must carry due_at when the statement wakes dispatchers (wakeup.ts).
 */
export function insertOutboxRows(params: { values: Partial<Record<NewRowColumn, string>>; from: string; returning: string }): string {
  const columns = NEW_ROW_COLUMNS.filter((c) => params.values[c] !== undefined);
  return `INSERT INTO scheduled_messages (${columns.join(', ')})
       SELECT ${columns.map((c) => params.values[c]).join(', ')}
         FROM ${params.from}
       ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
       RETURNING ${params.returning}`;
}

/** The same column name as the expression, for a source whose columns are named like the outbox's. */
export function sameNames<C extends NewRowColumn>(columns: readonly C[]): Record<C, string> {
  return Object.fromEntries(columns.map((c): [C, string] => [c, c])) as Record<C, string>;
}
