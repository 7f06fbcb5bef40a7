import type { RouteSpec } from '../../http/openapi/route-spec';
import { inboundTenantIdParam, twilioInboundBody } from './twilio-inbound-routes';

/** The inbound webhook: public (no API key), authenticated by X-Twilio-Signature. */
export const twilioInboundApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/inbound/twilio/{tenantId}',
    operationId: 'twilioInbound',
    tag: 'inbound',
    summary: "Twilio's inbound SMS/WhatsApp webhook of a tenant, signed with X-Twilio-Signature (no API key): STOP/START/HELP, or a reply from a known contact",
    params: { tenantId: inboundTenantIdParam },
    body: { 'application/x-www-form-urlencoded': twilioInboundBody },
    responses: {
      200: { description: 'handled; TwiML (text/xml): empty, or the HELP answer' },
      400: { description: 'a signed request without a valid From', problem: true },
      403: { description: 'missing or wrong X-Twilio-Signature: nothing changed', problem: true },
      404: { description: 'no such tenant, or the webhook is not configured (PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN)', problem: true },
    },
  },
];
