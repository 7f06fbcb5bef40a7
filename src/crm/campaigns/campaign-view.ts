import type { CampaignRow } from './campaign-store';

const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

/** A campaign as the /api/v1 answers show it: camelCase, counts as numbers, times in UTC (Z). */
export function campaignView(row: CampaignRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    channel: row.channel,
    subject: row.subject,
    template: row.template,
    sendAt: iso(row.send_at)!,
    listId: row.list_id,
    segmentId: row.segment_id,
    status: row.status,
    targeted: Number(row.targeted),
    queued: Number(row.queued),
    sent: Number(row.sent),
    failed: Number(row.failed),
    skipped: Number(row.skipped),
    cancelled: Number(row.cancelled),
    expandedAt: iso(row.expanded_at),
    startedAt: iso(row.started_at),
    completedAt: iso(row.completed_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}
