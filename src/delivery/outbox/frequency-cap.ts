import type { Queryable } from '../../db/database';
import { decideCaps, type Cap } from '../cap-decision';
import { classOfRowSql, type MessageClass } from '../message-class';
import type { ClaimResult } from './claim';

/** Why a delivery policy put a message back to 'scheduled' for later (held_until). */
export type HoldReason = 'quiet-hours' | 'frequency-cap';

/**
 * The frequency caps' step of a claim, in the claim's transaction (claim.ts): of the rows just
 * claimed whose tenant caps their class (`capped`), those over a cap are deferred (back to
 * 'scheduled', due when the cap next allows one, hold_reason 'frequency-cap') or skipped
 * 'frequency-cap', as the cap says (the verdict: cap-decision.ts).
 *
 * Race-free across worker processes: a transaction-scoped advisory lock per (tenant, contact),
 * taken in one order, serializes the claims that hold the same contact's messages, and the count
 * is read by a statement of its own after the locks, so it sees every claim committed before them
 * (READ COMMITTED takes a snapshot per statement). A claim commits together with its cap step, so
 * a claimed row another worker can see was admitted by its cap. What counts against a cap: the
 * contact's rows of the class sent within the period, and those in flight (claimed, sending,
 * unknown: an unknown one may have gone out) as if sent now, on every channel and from every
 * source; the database's now() is the clock.
 */
export async function applyFrequencyCaps<R extends ClaimResult & { capped: boolean; message_class: MessageClass }>(
  db: Queryable,
  rows: R[],
): Promise<ClaimResult[]> {
  const candidates = rows.filter((r) => r.capped && r.contact_id !== null);
  if (candidates.length === 0) return rows.map(withoutFlags);
  const tenants = candidates.map((r) => r.tenant_id);
  const contacts = candidates.map((r) => r.contact_id!);
  await db.query(
    // Sorted, so two claims never wait on each other's locks the other way round; the volatile
    // lock call is evaluated after the sort.
    `SELECT pg_advisory_xact_lock(k)::text FROM (
       SELECT DISTINCT hashtextextended(t || '/' || c, 0) AS k FROM unnest($1::text[], $2::text[]) AS u(t, c)
     ) keys ORDER BY k`,
    [tenants, contacts],
  );
  const read = await db.query<{ caps: CapRow[] | null; counted: CountedRow[] | null; now_ms: string | number }>(
    `WITH caps AS (
       SELECT f.tenant_id, f.class, f.max_messages, f.period_seconds, f.mode FROM tenant_frequency_caps f
        WHERE f.tenant_id = ANY($1::text[])
     ), keys AS (
       SELECT DISTINCT t AS tenant_id, c AS contact_id FROM unnest($1::text[], $2::text[]) AS u(t, c)
     ), counted AS (
       SELECT s.tenant_id, s.contact_id, ${classOfRowSql('s')} AS class,
              floor(extract(epoch FROM CASE WHEN s.status = 'sent' THEN s.sent_at ELSE now() END) * 1000) AS at_ms
         FROM keys k JOIN scheduled_messages s ON s.tenant_id = k.tenant_id AND s.contact_id = k.contact_id
        WHERE NOT (s.id = ANY($3::bigint[]))
          AND (s.status IN ('claimed', 'sending', 'unknown')
               OR (s.status = 'sent' AND s.sent_at > now() - (SELECT max(period_seconds) FROM caps WHERE caps.tenant_id = k.tenant_id) * interval '1 second'))
     )
     SELECT (SELECT json_agg(caps) FROM caps) AS caps, (SELECT json_agg(counted) FROM counted) AS counted,
            floor(extract(epoch FROM now()) * 1000) AS now_ms`,
    [tenants, contacts, candidates.map((r) => r.id)],
  );
  const { caps, counted, now_ms } = read.rows[0]!;
  const verdicts = decideCaps({
    nowMs: Number(now_ms),
    caps: (caps ?? []).map((c) => ({
      tenantId: c.tenant_id,
      class: c.class,
      maxMessages: Number(c.max_messages),
      periodMs: Number(c.period_seconds) * 1000,
      mode: c.mode,
    })),
    counted: (counted ?? []).map((m) => ({ tenantId: m.tenant_id, contactId: m.contact_id, class: m.class, atMs: Number(m.at_ms) })),
    candidates: candidates.map((r) => ({ id: r.id, tenantId: r.tenant_id, contactId: r.contact_id!, class: r.message_class })),
  });
  const held = [...verdicts].filter(([, v]) => v.action !== 'send');
  if (held.length > 0) {
    await db.query(
      `UPDATE scheduled_messages m
          SET status = CASE WHEN v.until_ms IS NULL THEN 'skipped' ELSE 'scheduled' END,
              skip_reason = CASE WHEN v.until_ms IS NULL THEN 'frequency-cap' END,
              claimed_by = CASE WHEN v.until_ms IS NULL THEN m.claimed_by END,
              lease_expires_at = NULL,
              due_at = coalesce(to_timestamp(v.until_ms / 1000.0), m.due_at),
              held_until = coalesce(to_timestamp(v.until_ms / 1000.0), m.held_until),
              hold_reason = CASE WHEN v.until_ms IS NULL THEN m.hold_reason ELSE 'frequency-cap' END,
              updated_at = now()
         FROM unnest($1::bigint[], $2::bigint[]) AS v(id, until_ms)
        WHERE m.id = v.id AND m.status = 'claimed'`,
      [held.map(([id]) => id), held.map(([, v]) => (v.action === 'defer' ? v.untilMs : null))],
    );
  }
  return rows.map((row) => {
    const verdict = verdicts.get(row.id);
    if (!verdict || verdict.action === 'send') return withoutFlags(row);
    return verdict.action === 'skip'
      ? { ...withoutFlags(row), skip_reason: 'frequency-cap' }
      : { ...withoutFlags(row), hold_reason: 'frequency-cap', held_until: new Date(verdict.untilMs) };
  });
}

type CapRow = { tenant_id: string; class: Cap['class']; max_messages: number; period_seconds: number; mode: Cap['mode'] };
type CountedRow = { tenant_id: string; contact_id: string; class: MessageClass; at_ms: number | string };

function withoutFlags<R extends ClaimResult & { capped: boolean; message_class: MessageClass }>(row: R): ClaimResult {
  const { capped: _capped, message_class: _class, ...rest } = row;
  return rest;
}
