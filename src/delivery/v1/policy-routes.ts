import { Router } from 'express';
import { z } from 'zod';
import type { Queryable } from '../../db/database';
import { NotFoundError } from '../../errors/caller-error';
import { cursorFor, pageFrom, pageQueryFields } from '../../http/pagination';
import { parseOrThrow, ProblemError } from '../../http/problem';
import {
  CAP_MODES,
  CAPPED_CLASSES,
  listFrequencyCaps,
  listQuietHours,
  putFrequencyCap,
  putQuietHours,
  QUIET_HOURS_CHANNELS,
  QUIET_HOURS_MODES,
  removeFrequencyCap,
  removeQuietHours,
} from '../policy-store';

const tenantId = z.string().trim().min(1, { message: 'required' }).max(200);
const channel = z.enum(QUIET_HOURS_CHANNELS, { message: "must be email, sms, whatsapp, webhook, log or '*'" });
const appliesTo = z
  .string()
  .trim()
  .max(210)
  .regex(/^(\*|(type|campaign):\S{1,200})$/, { message: "must be '*', 'type:<message type>' or 'campaign:<campaign id>'" });
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, { message: 'must be a wall-clock time HH:MM (or HH:MM:SS), 00:00 to 23:59' });
const cappedClass = z.enum(CAPPED_CLASSES, { message: "must be marketing, followup or '*' (transactional messages are never capped)" });

export const quietHoursBody = z
  .strictObject({
    tenantId,
    channel: channel.default('*'),
    appliesTo: appliesTo.default('*').describe("'*' (every message), or an override for 'type:<message type>' or 'campaign:<campaign id>'"),
    starts: clock.describe("start of the window, the contact's wall-clock time (the tenant's zone when the contact has none)"),
    ends: clock.describe('end of the window (exclusive); earlier than starts crosses midnight, e.g. 21:00 to 08:00'),
    mode: z
      .enum(QUIET_HOURS_MODES, { message: 'must be hold, skip or off' })
      .default('hold')
      .describe("hold (deliver at the window's end), skip (skipped 'quiet-hours') or off (no quiet hours for what this names)"),
  })
  .refine((w) => normalClock(w.starts) !== normalClock(w.ends), { path: ['ends'], message: 'must differ from starts (an empty window)' });
export const quietHoursKeyQuery = z.strictObject({ tenantId, channel: channel.default('*'), appliesTo: appliesTo.default('*') });
export const quietHoursListQuery = z.strictObject({ tenantId, ...pageQueryFields, cursor: z.string().max(1_000).optional() });

export const frequencyCapBody = z.strictObject({
  tenantId,
  class: cappedClass,
  maxMessages: z.number({ message: 'must be a whole number from 1 to 10000' }).int({ message: 'must be a whole number from 1 to 10000' }).min(1).max(10_000),
  periodSeconds: z
    .number({ message: 'must be a whole number of seconds from 60 to 31622400 (366 days)' })
    .int({ message: 'must be a whole number of seconds from 60 to 31622400 (366 days)' })
    .min(60, { message: 'must be at least 60 seconds' })
    .max(31_622_400, { message: 'must be at most 31622400 seconds (366 days)' })
    .describe('the rolling period the cap counts over'),
  mode: z.enum(CAP_MODES, { message: 'must be defer or skip' }).default('defer').describe("defer (to when the cap allows) or skip ('frequency-cap')"),
});
export const frequencyCapKeyQuery = z.strictObject({ tenantId, class: cappedClass });
export const frequencyCapListQuery = z.strictObject({ tenantId });

const normalClock = (time: string): string => (time.length === 5 ? `${time}:00` : time);
const quietHoursCursor = cursorFor('quiet-hours', /^[\s\S]{1,210}$/);

/**
 * A tenant's delivery policies under /api/v1: quiet hours (named by tenant, channel and what they
 * apply to) and frequency caps (named by tenant and class). PUT sets one (201 when new, 200 when
 * replaced), DELETE removes it (404 when there was none), GET lists. The dispatcher applies them
 * from its next claim on (outbox/claim.ts). No SQL here: policy-store.ts owns the tables.
 */
export function policyRoutes(deps: { db: Queryable }): Router {
  const router = Router();

  router.put('/v1/quiet-hours', async (req, res) => {
    const body = parseOrThrow(quietHoursBody, req.body ?? {});
    const { quietHours, created } = await putQuietHours(deps.db, body);
    res.status(created ? 201 : 200).json(quietHours);
  });
  router.delete('/v1/quiet-hours', async (req, res) => {
    const key = parseOrThrow(quietHoursKeyQuery, req.query);
    if (!(await removeQuietHours(deps.db, key))) {
      throw new NotFoundError(`no quiet hours on channel "${key.channel}" for "${key.appliesTo}" of tenant "${key.tenantId}"`);
    }
    res.status(204).end();
  });
  router.get('/v1/quiet-hours', async (req, res) => {
    const query = parseOrThrow(quietHoursListQuery, req.query);
    const after = query.cursor === undefined ? undefined : quietHoursCursor.decode(query.cursor);
    if (after && after.length !== 2) throw ProblemError.invalid([{ field: 'cursor', message: 'not a cursor this list gave out' }]);
    const rows = await listQuietHours(deps.db, query.tenantId, { limit: query.limit, ...(after ? { after: [after[0]!, after[1]!] as const } : {}) });
    res.json(
      pageFrom(
        rows,
        query.limit,
        (row) => row,
        (row) => [row.channel, row.appliesTo],
        quietHoursCursor,
      ),
    );
  });

  router.put('/v1/frequency-caps', async (req, res) => {
    const body = parseOrThrow(frequencyCapBody, req.body ?? {});
    const { cap, created } = await putFrequencyCap(deps.db, body);
    res.status(created ? 201 : 200).json(cap);
  });
  router.delete('/v1/frequency-caps', async (req, res) => {
    const key = parseOrThrow(frequencyCapKeyQuery, req.query);
    if (!(await removeFrequencyCap(deps.db, key))) throw new NotFoundError(`no frequency cap of class "${key.class}" for tenant "${key.tenantId}"`);
    res.status(204).end();
  });
  router.get('/v1/frequency-caps', async (req, res) => {
    const query = parseOrThrow(frequencyCapListQuery, req.query);
    res.json({ items: await listFrequencyCaps(deps.db, query.tenantId), nextCursor: null });
  });

  return router;
}
