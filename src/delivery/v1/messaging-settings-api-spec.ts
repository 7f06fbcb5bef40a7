import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { messagingSettingsBody, messagingTenantIdParam } from './messaging-settings-routes';

const settingsSchema = z.strictObject({
  tenantId: z.string(),
  requireRecordedConsent: z.boolean(),
  helpText: z.string().nullable().describe('null: the default answer'),
});
const notFound = { description: 'no such tenant', problem: true };

export const messagingSettingsApiSpec: RouteSpec[] = [
  {
    method: 'get',
    path: '/v1/messaging-settings/{tenantId}',
    operationId: 'getMessagingSettings',
    tag: 'consent',
    summary: "A tenant's consent requirement and HELP answer (the defaults when never set)",
    params: { tenantId: messagingTenantIdParam },
    responses: { 200: { description: 'the settings', schema: settingsSchema }, 400: { description: 'invalid tenantId', problem: true }, 404: notFound },
  },
  {
    method: 'put',
    path: '/v1/messaging-settings/{tenantId}',
    operationId: 'putMessagingSettings',
    tag: 'consent',
    summary: "Replaces a tenant's messaging settings whole (a field left out takes its default)",
    params: { tenantId: messagingTenantIdParam },
    body: { 'application/json': messagingSettingsBody },
    responses: {
      200: { description: 'the settings now', schema: settingsSchema },
      400: { description: 'invalid input: the problem names each field', problem: true },
      404: notFound,
    },
  },
];
