import { z } from 'zod';
import { isoInstant } from '../../util/iso-time';
import { timeZone } from '../contacts/contact-schema';

export const TENANT_STATUSES = ['trial', 'active', 'suspended', 'cancelled'] as const;

/**
 * A tenant as the CRM sends it (docs/data-contract.md). PUT is a full replacement: a field left
 * out takes its default (timezone UTC, follow-ups enabled, no trial end, no suspension reason).
 */
export const tenantFields = z.strictObject({
  name: z.string({ message: 'must be a string' }).trim().min(1, { message: 'must not be empty' }).max(500, { message: 'must be at most 500 characters' }),
  status: z.enum(TENANT_STATUSES, { message: `must be one of ${TENANT_STATUSES.join(', ')}` }),
  timezone: timeZone.optional(),
  followupEnabled: z.boolean({ message: 'must be true or false' }).optional(),
  /** When a trial ends; trial-expiration suspends a 'trial' tenant past it. */
  trialEndsAt: isoInstant.nullish(),
  suspensionReason: z.string({ message: 'must be a string' }).max(1000, { message: 'must be at most 1000 characters' }).nullish(),
});
export type TenantBody = z.infer<typeof tenantFields>;

export interface TenantInput {
  id: string;
  name: string;
  status: (typeof TENANT_STATUSES)[number];
  timezone: string;
  followupEnabled: boolean;
  trialEndsAt: Date | null;
  suspensionReason: string | null;
}

export function toTenantInput(id: string, body: TenantBody): TenantInput {
  return {
    id,
    name: body.name,
    status: body.status,
    timezone: body.timezone ?? 'UTC',
    followupEnabled: body.followupEnabled ?? true,
    trialEndsAt: body.trialEndsAt ?? null,
    // A reason only means something for a suspended tenant.
    suspensionReason: body.status === 'suspended' ? (body.suspensionReason ?? null) : null,
  };
}
