import type { DeliveryConfig } from '../config/config';
import type { ChannelName } from '../channels/channel';
import type { FollowUpService } from './followup-service';
import type { ScheduleResult } from './outbox';
import { ValidationError } from './validation-error';

/** A lead as the CRM reports it after prediction (002: POST /v1/lead → pred_prob). */
export interface LeadReport {
  tenantId: string;
  leadId: string;
  predProb: number;
  /** Where follow-ups go; defaults to the configured webhook target, or the lead id for the log channel. */
  recipient?: string;
  channel?: ChannelName;
  contactId?: string | null;
  variables?: Record<string, unknown>;
}

export type AutoFollowUpOutcome =
  | ({ triggered: true; delaysSeconds: number[] } & ScheduleResult)
  | { triggered: false; reason: 'disabled' | 'below_threshold' | 'no_schedules'; threshold: number };

/**
 * The auto follow-up rule: a lead with pred_prob >= FOLLOWUP_RULE_TOP_P gets one follow-up per
 * FOLLOWUP_SCHEDULES delay. Idempotent per lead: the keys are (tenant, lead, delay), so a lead
 * reported twice (a retried request, an update) still gets one follow-up per delay. They stop
 * when the lead replies.
 */
export async function applyAutoFollowUpRule(
  service: FollowUpService,
  config: DeliveryConfig,
  lead: LeadReport,
  now: Date = new Date(),
): Promise<AutoFollowUpOutcome> {
  const issues = [];
  if (typeof lead?.tenantId !== 'string' || lead.tenantId.trim() === '') issues.push({ field: 'tenantId', message: 'required' });
  if (typeof lead?.leadId !== 'string' || lead.leadId.trim() === '') issues.push({ field: 'leadId', message: 'required' });
  if (typeof lead?.predProb !== 'number' || !(lead.predProb >= 0 && lead.predProb <= 1)) {
    issues.push({ field: 'predProb', message: 'must be a number from 0 to 1' });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const { followup } = config;
  if (!followup.enabled) return { triggered: false, reason: 'disabled', threshold: followup.ruleTopP };
  if (lead.predProb < followup.ruleTopP) return { triggered: false, reason: 'below_threshold', threshold: followup.ruleTopP };
  if (followup.scheduleSeconds.length === 0) return { triggered: false, reason: 'no_schedules', threshold: followup.ruleTopP };

  const channel = lead.channel ?? followup.channel;
  const recipient = lead.recipient ?? defaultRecipient(channel, config, lead.leadId);
  // The keys are crm-worker's own (auto-followup:...), a namespace callers cannot write.
  const result = await service.scheduleOwn(
    followup.scheduleSeconds.map((delaySeconds) => ({
      tenantId: lead.tenantId,
      leadId: lead.leadId,
      contactId: lead.contactId ?? null,
      channel,
      recipient: recipient ?? '',
      scheduledAt: new Date(now.getTime() + delaySeconds * 1000),
      template: followup.template,
      variables: {
        ...lead.variables,
        lead_id: lead.leadId,
        delay_seconds: delaySeconds,
        pred_prob: lead.predProb,
        strategy: `${delaySeconds}s`,
      },
      type: 'followup',
      stopOnReply: true,
      idempotencyKey: `auto-followup:${lead.tenantId}:${lead.leadId}:${delaySeconds}s`,
    })),
  );
  return { triggered: true, delaysSeconds: [...followup.scheduleSeconds], ...result };
}

function defaultRecipient(channel: ChannelName, config: DeliveryConfig, leadId: string): string | undefined {
  if (channel === 'log') return `lead:${leadId}`;
  if (channel === 'webhook') {
    const targets = Object.keys(config.webhook.targets);
    return targets.includes('default') ? 'default' : targets[0];
  }
  return undefined;
}
