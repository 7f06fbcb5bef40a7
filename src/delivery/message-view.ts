import type { MessageClass } from './message-class';
import type { MessageStatus } from './outbox';

/** A scheduled message as the API shows it. */
export interface MessageView {
  id: string;
  tenantId: string;
  contactId: string | null;
  leadId: string | null;
  channel: string;
  recipient: string;
  type: string;
  /** transactional, followup or marketing: which due messages go first (message-class.ts). */
  class: MessageClass;
  status: MessageStatus;
  skipReason: string | null;
  scheduledAt: string;
  dueAt: string;
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
  sentBy: string | null;
  idempotencyKey: string;
  responseReceivedAt: string | null;
  responseText: string | null;
  recurrenceIntervalSeconds: number | null;
  nextOccurrenceId: string | null;
  resolution: string | null;
  /** When a delivery policy (quiet hours, a frequency cap) last held it, until when and why. */
  heldUntil: string | null;
  holdReason: string | null;
}

/** The columns every read of a message for the API selects. */
export const VIEW_COLUMNS = `id::text AS id, tenant_id, contact_id, lead_id, channel, recipient, type, class, status, skip_reason,
  scheduled_at, due_at, attempts, last_error, sent_at, sent_by, idempotency_key, response_received_at, response_text,
  recurrence_interval_seconds, next_occurrence_id::text AS next_occurrence_id, resolution, held_until, hold_reason`;

/** A row as VIEW_COLUMNS selects it. */
export type Row = {
  id: string;
  tenant_id: string;
  contact_id: string | null;
  lead_id: string | null;
  channel: string;
  recipient: string;
  type: string;
  class: MessageClass;
  status: MessageStatus;
  skip_reason: string | null;
  scheduled_at: Date;
  due_at: Date;
  attempts: number;
  last_error: string | null;
  sent_at: Date | null;
  sent_by: string | null;
  idempotency_key: string;
  response_received_at: Date | null;
  response_text: string | null;
  recurrence_interval_seconds: number | null;
  next_occurrence_id: string | null;
  resolution: string | null;
  held_until: Date | null;
  hold_reason: string | null;
};

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

export function toView(r: Row): MessageView {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    contactId: r.contact_id,
    leadId: r.lead_id,
    channel: r.channel,
    recipient: r.recipient,
    type: r.type,
    class: r.class,
    status: r.status,
    skipReason: r.skip_reason,
    scheduledAt: iso(r.scheduled_at)!,
    dueAt: iso(r.due_at)!,
    attempts: Number(r.attempts),
    lastError: r.last_error,
    sentAt: iso(r.sent_at),
    sentBy: r.sent_by,
    idempotencyKey: r.idempotency_key,
    responseReceivedAt: iso(r.response_received_at),
    responseText: r.response_text,
    recurrenceIntervalSeconds: r.recurrence_interval_seconds,
    nextOccurrenceId: r.next_occurrence_id,
    resolution: r.resolution,
    heldUntil: iso(r.held_until),
    holdReason: r.hold_reason,
  };
}
