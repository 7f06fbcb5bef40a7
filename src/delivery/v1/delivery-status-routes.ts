import { Router } from 'express';
import { z } from 'zod';
import type { DeliveryConfig } from '../../config/config';
import { parseOrThrow } from '../../http/problem';
import { applyAutoFollowUpRule, type LeadReport } from '../auto-followup';
import type { FollowUpService } from '../followup-service';
import { CHANNEL_NAMES } from '../schedule-request';
import { ValidationError } from '../validation-error';
import type { WorkerHealth } from '../worker-health';

const text = (max: number) => z.string().trim().min(1, { message: 'required' }).max(max);
export const leadReportBody = z.strictObject({
  tenantId: text(200),
  leadId: text(200),
  predProb: z
    .number({ message: 'must be a number from 0 to 1' })
    .min(0, { message: 'must be a number from 0 to 1' })
    .max(1, { message: 'must be a number from 0 to 1' }),
  recipient: text(2048).optional().describe('default: the configured webhook target, or lead:<leadId> on the log channel'),
  channel: z.enum(CHANNEL_NAMES, { message: `must be one of ${CHANNEL_NAMES.join(', ')}` }).optional(),
  contactId: text(200).nullable().optional(),
  variables: z.record(z.string(), z.unknown()).optional(),
});

/** Status reads take no query: a parameter there is a typo, named in a 400. */
const noQuery = z.strictObject({});

/**
 * The auto follow-up rule schedules one message per configured delay; a problem with one of them
 * (`requests[1].recipient`) is a problem with the report's own field (`recipient`), since the
 * caller sent one report, not those messages.
 */
function asReportFields(err: unknown): never {
  if (!(err instanceof ValidationError)) throw err;
  const fields = err.issues.map((issue) => ({ field: issue.field.replace(/^requests\[\d+\]\./, ''), message: issue.message }));
  const unique = fields.filter((f, i) => fields.findIndex((g) => g.field === f.field && g.message === f.message) === i);
  throw new ValidationError(unique);
}

/**
 * The auto follow-up rule, the outbox's queue status and the dispatchers' liveness under /api/v1.
 * Queue counts and worker health are the whole worker's, not one tenant's: they are what an
 * operator's dashboard reads. No SQL here: FollowUpService and worker-health.ts hold it.
 */
export function deliveryStatusRoutes(deps: { service: FollowUpService; config: DeliveryConfig; workerHealth: () => Promise<WorkerHealth> }): Router {
  const { service, config } = deps;
  const router = Router();

  router.post('/v1/auto-follow-ups', async (req, res) => {
    const report = parseOrThrow(leadReportBody, req.body ?? {}) as LeadReport;
    res.json(await applyAutoFollowUpRule(service, config, report).catch(asReportFields));
  });

  router.get('/v1/queue', async (req, res) => {
    parseOrThrow(noQuery, req.query);
    const status = await service.queueStatus();
    res.json({ enabled: config.enabled, dueNow: status.dueNow, scheduledLater: status.scheduledLater, byStatus: status.byStatus });
  });

  // A report, not a probe: 200 also when stale (/health is the probe); the database away is a 503.
  router.get('/v1/worker', async (req, res) => {
    parseOrThrow(noQuery, req.query);
    const health = await deps.workerHealth();
    res.json({ ok: health.ok, status: health.status, lastTick: health.last_tick, checkedAt: health.checked_at });
  });

  return router;
}
