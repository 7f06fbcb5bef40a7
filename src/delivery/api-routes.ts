import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import type { DeliveryConfig } from '../config/config';
import type { Database } from '../db/database';
import { applyAutoFollowUpRule } from './auto-followup';
import type { FollowUpService } from './followup-service';
import { isObject, parseHttpTime, scheduleRequestsFromBody, withTraceparentHeader } from './http-bodies';
import { IdempotencyKeyConflictError } from './key-conflict-error';
import {
  autoFollowUpBody,
  byContactQuery,
  byStatusQuery,
  cancelBody,
  markSentBody,
  parseRequestPart,
  pendingQuery,
  redriveBody,
  rescheduleBody,
  resolveBody,
  responseBody,
  suppressionBody,
} from './http-schemas';
import type { MessageStatus } from './outbox';
import type { TemplateEngine } from '../templates/template-engine';
import { ValidationError } from './validation-error';
import { workerHealth } from './worker-health';

/**
 * The delivery API under /api (the app enforces the API key): the FollowUpService over HTTP,
 * the auto follow-up rule, the dead letter and unknown outcomes, queue status and worker health.
 * Bad input is a 400 naming the field; nothing is written. Deprecated: kept unchanged for one
 * release; every route has its /api/v1 counterpart in src/delivery/v1/ (CHANGELOG.md).
 */
/**
 * POST /followups takes up to 10,000 messages; at 1 MB (the other routes' limit) about 3,000 fit,
 * so this route has its own body limit: 10,000 messages of about 1.6 KB each.
 */
export const FOLLOWUPS_PATH = '/followups';
export const FOLLOWUPS_BODY_LIMIT = '16mb';

export function deliveryRoutes(deps: {
  service: FollowUpService;
  db: Database;
  config: DeliveryConfig;
  webhookTargets: ReadonlySet<string>;
  templates: TemplateEngine;
}): Router {
  const { service, config } = deps;
  const router = Router();
  const route = (fn: (req: Request, res: Response) => Promise<void>) => async (req: Request, res: Response) => {
    try {
      await fn(req, res);
    } catch (err) {
      if (err instanceof IdempotencyKeyConflictError) {
        res.status(409).json({ error: err.message, field: 'idempotencyKey', keys: err.conflicts.map((c) => c.idempotencyKey) });
        return;
      }
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).json({ error: err.message, field: err.field, issues: err.issues });
    }
  };
  // Every body and query is parsed by its strict schema (http-schemas.ts): an unknown field is a 400.
  const body = <S extends z.ZodType>(req: Request, schema: S): z.infer<S> => {
    if (!isObject(req.body)) throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
    return parseRequestPart(schema, req.body);
  };
  const queryOf = <S extends z.ZodType>(req: Request, schema: S): z.infer<S> => {
    for (const [name, value] of Object.entries(req.query)) {
      if (typeof value !== 'string') throw new ValidationError([{ field: name, message: 'must be given once' }]);
    }
    return parseRequestPart(schema, req.query);
  };
  const limitOf = (raw: string | undefined): number | undefined => (raw === undefined ? undefined : Number(raw));

  router.post(
    FOLLOWUPS_PATH,
    route(async (req, res) => {
      const requests = scheduleRequestsFromBody(req.body, {
        webhookTargets: deps.webhookTargets,
        templates: deps.templates,
        privateWebhookUrls: config.webhook.allowPrivate ? 'allow' : 'refuse',
      });
      res.status(201).json(await service.schedule(withTraceparentHeader(requests, req.get('traceparent'))));
    }),
  );

  router.post(
    '/followups/cancel',
    route(async (req, res) => {
      const b = body(req, cancelBody);
      res.json({ cancelled: await service.cancel(b.idempotencyKeys, undefined, b.tenantId) });
    }),
  );

  router.post(
    '/followups/reschedule',
    route(async (req, res) => {
      const b = body(req, rescheduleBody);
      const time = parseHttpTime(b.scheduledAt, b.timezone, 'scheduledAt');
      if ('issue' in time) throw new ValidationError([time.issue]);
      res.json({ moved: await service.reschedule(b.idempotencyKey, time.value, undefined, b.tenantId) });
    }),
  );

  router.get(
    '/followups/pending',
    route(async (req, res) => {
      const q = queryOf(req, pendingQuery);
      res.json({ messages: await service.listPending({ tenantId: q.tenantId, limit: limitOf(q.limit) }) });
    }),
  );

  router.get(
    '/followups/contact/:contactId',
    route(async (req, res) => {
      const q = queryOf(req, byContactQuery);
      if (!q.tenantId) throw new ValidationError([{ field: 'tenantId', message: 'required' }]);
      res.json({ messages: await service.listByContact(q.tenantId, String(req.params['contactId']), limitOf(q.limit) ?? 100) });
    }),
  );

  router.get(
    '/followups/:id',
    route(async (req, res) => {
      const message = await service.get({ id: String(req.params['id']) });
      if (!message) res.status(404).json({ error: 'no such message' });
      else res.json(message);
    }),
  );

  router.post(
    '/followups/responses',
    route(async (req, res) => {
      const b = body(req, responseBody);
      let receivedAt: Date | undefined;
      if (b.receivedAt !== undefined) {
        const time = parseHttpTime(b.receivedAt, undefined, 'receivedAt');
        if ('issue' in time) throw new ValidationError([time.issue]);
        receivedAt = time.value;
      }
      const target = b.id !== undefined ? { id: b.id } : { idempotencyKey: b.idempotencyKey, tenantId: b.tenantId };
      if (target.id === undefined && typeof target.idempotencyKey !== 'string') {
        throw new ValidationError([{ field: 'idempotencyKey', message: 'required (or id)' }]);
      }
      res.json(await service.recordResponse({ ...target, text: b.text, receivedAt }));
    }),
  );

  router.post(
    '/followups/mark-sent',
    route(async (req, res) => {
      const b = body(req, markSentBody);
      res.json(await service.markSent({ idempotencyKey: b.idempotencyKey, sentBy: b.sentBy, tenantId: b.tenantId }));
    }),
  );

  router.post(
    '/followups/auto',
    route(async (req, res) => {
      res.json(await applyAutoFollowUpRule(service, config, body(req, autoFollowUpBody) as never));
    }),
  );

  router.get(
    '/delivery/messages',
    route(async (req, res) => {
      const q = queryOf(req, byStatusQuery);
      const status = (q.status ?? 'dead') as MessageStatus;
      res.json({ messages: await service.listByStatus(status, { tenantId: q.tenantId, limit: limitOf(q.limit) }) });
    }),
  );

  router.post(
    '/delivery/redrive',
    route(async (req, res) => {
      const b = body(req, redriveBody);
      res.json({
        redriven: await service.redrive({
          ids: b.ids,
          status: b.status as 'dead' | 'failed' | undefined,
          tenantId: b.tenantId,
        }),
      });
    }),
  );

  router.post(
    '/delivery/unknown/:id/resolve',
    route(async (req, res) => {
      const outcome = body(req, resolveBody).outcome as 'sent' | 'failed' | 'resend';
      const resolved = await service.resolveUnknown(String(req.params['id']), outcome);
      res.status(resolved ? 200 : 409).json({ resolved });
    }),
  );

  router.post(
    '/delivery/suppressions',
    route(async (req, res) => {
      await service.suppress(body(req, suppressionBody) as never);
      res.status(201).json({ suppressed: true });
    }),
  );

  // The CRM's /ops/followup/queue view: queued = due now, scheduled = later, plus every status.
  router.get(
    '/followup/queue',
    route(async (_req, res) => {
      const status = await service.queueStatus();
      res.json({
        enabled: config.enabled,
        queue: 'scheduled_messages',
        jobs: { queued: status.dueNow, scheduled: status.scheduledLater },
        by_status: status.byStatus,
      });
    }),
  );

  router.get(
    '/worker/health',
    route(async (_req, res) => {
      try {
        res.json(await workerHealth(deps.db, config.healthStaleMs));
      } catch (err) {
        res.status(503).json({ ok: false, last_tick: null, status: 'unknown', checked_at: new Date().toISOString(), error: (err as Error).message });
      }
    }),
  );

  return router;
}
