import type { Database, Queryable } from '../db/database';
import { countMissedOccurrences, type DeliveryMetrics } from './delivery-metrics';
import {
  MESSAGE_STATUSES,
  assertKeysUnambiguous,
  cancelMessages,
  rescheduleMessage,
  scheduleMessages,
  type MessageStatus,
  type ScheduleRequest,
  type ScheduleResult,
} from './outbox';
import { scheduleNextOccurrences } from './outbox/recurrence';
import { redriveMessages, resolveUnknownOutcome } from './outbox/recovery';
import { recordMessageResponse } from './outbox/responses';
import { markSentByKey } from './outbox/sent';
import { reservedKeyProblem } from './idempotency-keys';
import { recordReply } from './replies';
import { putSuppression, type SuppressionKey } from './suppression-store';
import { ValidationError } from './validation-error';
import { outboxCells } from './outbox-overview';
import { toView, VIEW_COLUMNS, type MessageView, type Row } from './message-view';
import type { ValidationOptions } from './schedule-request';

export type { MessageView } from './message-view';

/**
 * The follow-up API the CRM application imports (and that /api exposes over HTTP): schedule,
 * cancel, reschedule, list, record a response, mark sent, and the operator's dead-letter and
 * unknown-outcome handling. Everything is SQL on the outbox; there is no second store to keep in step.
 */
export class FollowUpService {
  constructor(
    private readonly db: Database,
    private readonly options: ValidationOptions & { metrics?: Pick<DeliveryMetrics, 'missedOccurrences'> } = {},
  ) {}

  /**
   * Schedules a caller's messages. Keys in crm-worker's own namespace (idempotency-keys.ts) are
   * refused with a ValidationError naming the field; a key reused with another payload throws
   * IdempotencyKeyConflictError (HTTP 409).
   */
  schedule(requests: ScheduleRequest[], tx: Queryable = this.db): Promise<ScheduleResult> {
    if (!Array.isArray(requests)) throw new ValidationError([{ field: 'requests', message: 'must be an array' }]);
    const issues = requests.flatMap((r, index) => {
      const key = (r as Partial<ScheduleRequest> | null)?.idempotencyKey;
      const problem = typeof key === 'string' ? reservedKeyProblem(key.trim()) : undefined;
      return problem ? [{ field: requests.length > 1 ? `requests[${index}].idempotencyKey` : 'idempotencyKey', message: problem }] : [];
    });
    if (issues.length > 0) throw new ValidationError(issues);
    return this.scheduleOwn(requests, tx);
  }

  /** Schedules messages whose keys crm-worker made itself (the auto follow-up rule): no namespace check. */
  scheduleOwn(requests: ScheduleRequest[], tx: Queryable = this.db): Promise<ScheduleResult> {
    const { metrics: _metrics, ...validation } = this.options;
    return scheduleMessages(tx, requests, validation);
  }

  /** Keys are per tenant: pass tenantId, required when a key is used by more than one tenant. */
  cancel(idempotencyKeys: string[], tx: Queryable = this.db, tenantId?: string): Promise<number> {
    return cancelMessages(tx, idempotencyKeys, tenantId);
  }

  reschedule(idempotencyKey: string, scheduledAt: Date, tx: Queryable = this.db, tenantId?: string): Promise<number> {
    return rescheduleMessage(tx, idempotencyKey, scheduledAt, tenantId);
  }

  /** By id, or by idempotency key (and tenant: required when two tenants use the key). */
  async get(idOrKey: { id?: string; idempotencyKey?: string; tenantId?: string }): Promise<MessageView | undefined> {
    if (idOrKey.id !== undefined) {
      if (!/^\d{1,18}$/.test(String(idOrKey.id))) throw new ValidationError([{ field: 'id', message: 'not a message id' }]);
      const r = await this.db.query<Row>(`SELECT ${VIEW_COLUMNS} FROM scheduled_messages WHERE id = $1`, [idOrKey.id]);
      return r.rows[0] ? toView(r.rows[0]) : undefined;
    }
    requireText('idempotencyKey', idOrKey.idempotencyKey);
    await assertKeysUnambiguous(this.db, [idOrKey.idempotencyKey!], idOrKey.tenantId);
    const r = await this.db.query<Row>(`SELECT ${VIEW_COLUMNS} FROM scheduled_messages WHERE idempotency_key = $1 AND ($2::text IS NULL OR tenant_id = $2)`, [
      idOrKey.idempotencyKey,
      idOrKey.tenantId ?? null,
    ]);
    return r.rows[0] ? toView(r.rows[0]) : undefined;
  }

  /** Messages not yet sent (scheduled or being sent), earliest first. */
  async listPending(filter: { tenantId?: string; limit?: number } = {}): Promise<MessageView[]> {
    return this.list({ ...filter, statuses: ['scheduled', 'claimed', 'sending'] }, 'due_at ASC');
  }

  /** Every message of one contact, newest scheduled first. */
  async listByContact(tenantId: string, contactId: string, limit = 100): Promise<MessageView[]> {
    requireText('tenantId', tenantId);
    requireText('contactId', contactId);
    const result = await this.db.query<Row>(
      `SELECT ${VIEW_COLUMNS} FROM scheduled_messages WHERE tenant_id = $1 AND contact_id = $2
        ORDER BY scheduled_at DESC, id DESC LIMIT $3`,
      [tenantId, contactId, checkLimit(limit)],
    );
    return result.rows.map(toView);
  }

  async listByStatus(status: MessageStatus, filter: { tenantId?: string; limit?: number } = {}): Promise<MessageView[]> {
    if (!MESSAGE_STATUSES.includes(status)) {
      throw new ValidationError([{ field: 'status', message: `must be one of ${MESSAGE_STATUSES.join(', ')}` }]);
    }
    return this.list({ ...filter, statuses: [status] }, 'updated_at DESC');
  }

  /**
   * Records a contact's reply: on the message it answers (response_received_at/text) and,
   * through the one door for replies (replies.ts), in contact_replies, so stop-on-reply messages
   * of the same contact or lead, nurture sequences and lead reminders all see it.
   */
  async recordResponse(input: { idempotencyKey?: string; id?: string; tenantId?: string; text: string; receivedAt?: Date }): Promise<MessageView> {
    requireText('text', input.text);
    const receivedAt = input.receivedAt ?? new Date();
    if (Number.isNaN(receivedAt.getTime())) throw new ValidationError([{ field: 'receivedAt', message: 'not a valid time' }]);
    const message = await this.get(input);
    if (!message) throw new ValidationError([{ field: input.id !== undefined ? 'id' : 'idempotencyKey', message: 'no such message' }]);
    await this.db.transaction(async (tx) => {
      await recordMessageResponse(tx, { id: message.id, receivedAt, text: input.text });
      await recordReply(tx, {
        tenantId: message.tenantId,
        contactId: message.contactId,
        leadIds: message.leadId ? [message.leadId] : [],
        messageId: message.id,
        channel: message.channel,
        body: input.text,
        receivedAt,
      });
    });
    return (await this.get({ id: message.id }))!;
  }

  /**
   * Marks a message sent by someone else (e.g. the CRM's own concierge). A recurring message gets
   * its next occurrence in the same transaction. Only scheduled, claimed (send not started: the
   * dispatcher's 'sending' mark then fails, so it is not sent) or unknown rows can be marked.
   */
  async markSent(input: { idempotencyKey: string; sentBy?: string; tenantId?: string }): Promise<{ marked: boolean; nextOccurrenceId: string | null }> {
    requireText('idempotencyKey', input.idempotencyKey);
    await assertKeysUnambiguous(this.db, [input.idempotencyKey], input.tenantId);
    const outcome = await this.db.transaction(async (tx) => {
      const id = await markSentByKey(tx, { idempotencyKey: input.idempotencyKey, sentBy: input.sentBy ?? 'api', tenantId: input.tenantId });
      if (!id) return { marked: false, nextOccurrenceId: null, next: undefined };
      const next = await scheduleNextOccurrences(tx, [id]);
      const linked = await tx.query<{ next: string | null }>('SELECT next_occurrence_id::text AS next FROM scheduled_messages WHERE id = $1', [id]);
      return { marked: true, nextOccurrenceId: linked.rows[0]?.next ?? null, next };
    });
    if (outcome.next) countMissedOccurrences(this.options.metrics, outcome.next);
    return { marked: outcome.marked, nextOccurrenceId: outcome.nextOccurrenceId };
  }

  /** Sends dead (or failed) messages again from scratch: attempts reset, due now. */
  async redrive(input: { ids?: string[]; status?: 'dead' | 'failed'; tenantId?: string }): Promise<number> {
    const status = input.status ?? 'dead';
    if (status !== 'dead' && status !== 'failed') throw new ValidationError([{ field: 'status', message: 'must be dead or failed' }]);
    if (input.ids !== undefined && (!Array.isArray(input.ids) || input.ids.some((id) => !/^\d{1,18}$/.test(String(id))))) {
      throw new ValidationError([{ field: 'ids', message: 'must be a list of message ids' }]);
    }
    const redriven = await redriveMessages(this.db, { status, ids: input.ids, tenantId: input.tenantId, by: 'api' });
    return redriven.length;
  }

  /**
   * An operator's verdict on a message whose outcome is unknown: 'sent' (the provider has it),
   * 'failed' (it does not, and should not be sent), or 'resend' (it does not; send it now).
   */
  async resolveUnknown(id: string, outcome: 'sent' | 'failed' | 'resend'): Promise<boolean> {
    if (!/^\d{1,18}$/.test(String(id))) throw new ValidationError([{ field: 'id', message: 'not a message id' }]);
    if (!['sent', 'failed', 'resend'].includes(outcome)) {
      throw new ValidationError([{ field: 'outcome', message: 'must be sent, failed or resend' }]);
    }
    const verdict = await this.db.transaction(async (tx) => {
      if (!(await resolveUnknownOutcome(tx, id, outcome))) return { resolved: false, next: undefined };
      const next = outcome === 'sent' ? await scheduleNextOccurrences(tx, [id]) : undefined;
      return { resolved: true, next };
    });
    if (verdict.next) countMissedOccurrences(this.options.metrics, verdict.next);
    return verdict.resolved;
  }

  /** Opts a recipient out of a channel ('*' for all) for one tenant. */
  async suppress(input: { tenantId: string; channel: string; recipient: string; reason?: string }): Promise<void> {
    requireText('tenantId', input.tenantId);
    requireText('recipient', input.recipient);
    if (!['*', ...['email', 'sms', 'whatsapp', 'webhook', 'log']].includes(input.channel)) {
      throw new ValidationError([{ field: 'channel', message: "must be email, sms, whatsapp, webhook, log or '*'" }]);
    }
    await putSuppression(this.db, input as SuppressionKey & { reason?: string });
  }

  /** Rows by status, and how many scheduled ones are due now vs later (the CRM's /ops/followup/queue view). */
  async queueStatus(): Promise<{ byStatus: Record<MessageStatus, number>; dueNow: number; scheduledLater: number }> {
    const byStatus = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>;
    let dueNow = 0;
    for (const cell of await outboxCells(this.db)) {
      byStatus[cell.status as MessageStatus] = (byStatus[cell.status as MessageStatus] ?? 0) + cell.count;
      dueNow += cell.dueNow;
    }
    return { byStatus, dueNow, scheduledLater: byStatus.scheduled - dueNow };
  }

  /**
   * One page of a tenant's messages in id order, after `afterId` (the previous page's last id):
   * keyset pagination, so a page is as cheap at the millionth row as at the first and no row is
   * skipped or repeated while new ones arrive. Returns one row more than asked to tell if more follow.
   */
  async listPage(tenantId: string, options: MessagePageOptions): Promise<{ items: MessageView[]; more: boolean }> {
    requireText('tenantId', tenantId);
    const limit = checkLimit(options.limit);
    const statuses = options.statuses ?? (options.status ? [options.status] : null);
    const result = await this.db.query<Row>(
      `SELECT ${VIEW_COLUMNS} FROM scheduled_messages
        WHERE tenant_id = $1 AND id > $2::bigint AND ($3::text[] IS NULL OR status = ANY($3::text[]))
          AND ($5::text IS NULL OR contact_id = $5) AND ($6::text IS NULL OR idempotency_key = $6)
        ORDER BY id LIMIT $4`,
      [tenantId, options.afterId ?? '0', statuses, limit + 1, options.contactId ?? null, options.idempotencyKey ?? null],
    );
    return { items: result.rows.slice(0, limit).map(toView), more: result.rows.length > limit };
  }

  private async list(filter: { tenantId?: string; limit?: number; statuses: MessageStatus[] }, order: string): Promise<MessageView[]> {
    const result = await this.db.query<Row>(
      `SELECT ${VIEW_COLUMNS} FROM scheduled_messages
        WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR tenant_id = $2)
        ORDER BY ${order}, id LIMIT $3`,
      [filter.statuses, filter.tenantId ?? null, checkLimit(filter.limit ?? 100)],
    );
    return result.rows.map(toView);
  }
}

/** Filters of one page of a tenant's messages; every filter given must hold. */
export interface MessagePageOptions {
  afterId?: string;
  limit: number;
  status?: MessageStatus;
  /** Any of these statuses (the pending list: scheduled, claimed, sending). */
  statuses?: readonly MessageStatus[];
  contactId?: string;
  idempotencyKey?: string;
}

function requireText(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') throw new ValidationError([{ field, message: 'required' }]);
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new ValidationError([{ field: 'limit', message: 'must be a whole number from 1 to 1000' }]);
  }
  return limit;
}
