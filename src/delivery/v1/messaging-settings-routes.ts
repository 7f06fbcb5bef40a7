import { Router } from 'express';
import { z } from 'zod';
import type { Queryable } from '../../db/database';
import { NotFoundError } from '../../errors/caller-error';
import { parseOrThrow } from '../../http/problem';
import { readMessagingSettings, replaceMessagingSettings, tenantKnown } from '../messaging-settings';

export const messagingTenantIdParam = z.string().trim().min(1, { message: 'required' }).max(200);

export const messagingSettingsBody = z.strictObject({
  requireRecordedConsent: z
    .boolean({ message: 'must be true or false' })
    .optional()
    .describe('true: SMS and WhatsApp go only to contacts whose consent records true for the channel (default false)'),
  helpText: z
    .string({ message: 'must be a string' })
    .trim()
    .min(1, { message: 'must not be empty (null for the default)' })
    .max(1600, { message: 'must be at most 1600 characters (one SMS of 10 segments)' })
    .nullable()
    .optional()
    .describe('the answer to an inbound HELP; null or absent: the default text'),
});

/**
 * A tenant's messaging settings under /api/v1: GET shows them (the defaults when never set), PUT
 * replaces them whole. No SQL here: messaging-settings.ts owns the table.
 */
export function messagingSettingsRoutes(deps: { db: Queryable }): Router {
  const router = Router();

  router.get('/v1/messaging-settings/:tenantId', async (req, res) => {
    const tenantId = parseOrThrow(messagingTenantIdParam, req.params.tenantId, 'tenantId');
    if (!(await tenantKnown(deps.db, tenantId))) throw new NotFoundError(`tenant "${tenantId}" not found`);
    res.json(await readMessagingSettings(deps.db, tenantId));
  });

  router.put('/v1/messaging-settings/:tenantId', async (req, res) => {
    const tenantId = parseOrThrow(messagingTenantIdParam, req.params.tenantId, 'tenantId');
    const body = parseOrThrow(messagingSettingsBody, req.body ?? {});
    res.json(
      await replaceMessagingSettings(deps.db, {
        tenantId,
        requireRecordedConsent: body.requireRecordedConsent ?? false,
        helpText: body.helpText ?? null,
      }),
    );
  });

  return router;
}
