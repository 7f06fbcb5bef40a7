import type { Channel, ChannelName } from '../../channels/channel';
import { PermanentDeliveryError } from '../../channels/errors';
import type { DeliveryConfig } from '../../config/config';
import type { Database } from '../../db/database';
import type { DatabaseClock } from '../../db/database-clock';
import type { Logger } from '../../logging/logger';
import { noTracing, type Tracing } from '../../observability/tracing';
import { monotonicMs, startDeadline } from '../../util/deadline';
import type { DeliveryMetrics } from '../delivery-metrics';
import { releaseClaims, type ClaimedMessage } from '../outbox/claim';
import { recordAttemptFailure } from '../outbox/fail';
import type { ChannelRateLimits } from '../rate-limits';
import { maxAttemptsFor, retryDelayMs } from '../retry-policy';
import type { SentWriter } from '../sent-writer';
import { composeMessage, type ComposeDeps } from './compose-message';
import type { LocalQueue } from './local-queue';
import { decideOutcome, type SendResult } from './outcome';
import { persistWrite } from './persist';
import type { SendSlots } from './send-slots';

export interface MessageSenderDeps extends ComposeDeps {
  db: Database;
  channels: ReadonlyMap<ChannelName, Channel>;
  idempotentChannels: readonly ChannelName[];
  rateLimits: ChannelRateLimits;
  metrics: DeliveryMetrics;
  config: DeliveryConfig;
  clock: DatabaseClock;
  instanceId: string;
  log: Logger;
  queue: LocalQueue;
  slots: Pick<SendSlots, 'leaseCoversSend' | 'markStarted'>;
  sentWriter: SentWriter;
  strategyOf: (row: ClaimedMessage) => string;
  stopping: () => boolean;
  abortSends: AbortSignal;
  /** A span per send, the child of the message's traceparent when it was scheduled with one. */
  tracing?: Tracing;
}

/** How one delivery ended, for its span: the counter's result, or why nothing was sent. */
interface Delivered {
  result: string;
  error?: Error;
}

/**
 * Sends one marked row in its slot: rate limit, compose, the lease check, channel.send under the
 * send deadline, then the outcome (decideOutcome) written under the claim token. Nothing here
 * throws: every failure becomes the row's next state.
 */
export class MessageSender {
  constructor(private readonly deps: MessageSenderDeps) {}

  async deliver(row: ClaimedMessage, token: string): Promise<void> {
    // Ids, channel and tenant only: the recipient (an address or phone number) never goes on a span.
    const span = (this.deps.tracing ?? noTracing).startSpan('crm_worker.send', {
      parent: row.traceparent,
      attributes: {
        'crm_worker.message.id': row.id,
        'crm_worker.channel': row.channel,
        'crm_worker.tenant.id': row.tenant_id,
        'crm_worker.message.type': this.deps.strategyOf(row),
        'crm_worker.attempt': row.attempts,
      },
    });
    const delivered = await this.deliverRow(row, token);
    span.setAttributes({ 'crm_worker.result': delivered.result });
    span.end(delivered.error);
  }

  private async deliverRow(row: ClaimedMessage, token: string): Promise<Delivered> {
    const { config, metrics, rateLimits, db } = this.deps;
    const labels = { channel: row.channel, strategy: this.deps.strategyOf(row) };
    let sendDeadline: ReturnType<typeof startDeadline> | undefined;
    try {
      const channel = this.deps.channels.get(row.channel);
      // A destination paused by its own 429 waits without taking from the channel's budget.
      const destination = channel?.destinationOf?.(row.recipient);
      const destinationWaitMs = rateLimits.destinationWaitMs(destination);
      const waitMs = destinationWaitMs > 0 ? destinationWaitMs : await rateLimits.acquire(row.channel);
      if (waitMs > 0) {
        const reason =
          destinationWaitMs > 0 ? `receiver ${destination} asked to wait: waiting ${waitMs} ms` : `rate limit of channel ${row.channel}: waiting ${waitMs} ms`;
        return { result: await this.apply(row, token, labels, { kind: 'held-back', waitMs, reason }) };
      }
      if (!channel) throw new PermanentDeliveryError(`channel ${row.channel} is not configured in this worker`);
      const { subject, body } = await composeMessage(row, this.deps, this.deps.abortSends);
      if (!(await this.deps.slots.leaseCoversSend(row, token))) return { result: 'lease-expired' };
      if (this.deps.stopping()) {
        // Shutdown began before this send started: nothing is sent after that; the row goes back.
        await persistWrite(() => releaseClaims(db, { ids: [row.id], token }), this.deps.log, this.deps.abortSends);
        return { result: 'released' };
      }
      this.deps.slots.markStarted(row.id);
      const sendStartedAt = monotonicMs();
      const deadline = startDeadline(config.sendTimeoutMs, `send of message ${row.id}`, this.deps.abortSends);
      sendDeadline = deadline;
      const result = await channel
        .send(
          {
            id: row.id,
            tenantId: row.tenant_id,
            channel: row.channel,
            recipient: row.recipient,
            subject,
            body,
            type: row.type,
            metadata: {
              contact_id: row.contact_id,
              lead_id: row.lead_id,
              recipient: row.recipient,
              scheduled_at: new Date(row.scheduled_at).toISOString(),
              attempt: row.attempts,
            },
          },
          { idempotencyKey: row.idempotency_key, signal: deadline.signal },
        )
        .finally(() => deadline.clear());
      // On the database's clock, like scheduled_at: a skewed or stepped host still stores the truth.
      const sentAt = new Date(this.deps.clock.nowMs());
      this.deps.queue.recordSendTime(monotonicMs() - sendStartedAt);
      metrics.lag.observe({ channel: row.channel }, Math.max(0, (sentAt.getTime() - new Date(row.scheduled_at).getTime()) / 1000));
      metrics.sends.inc({ ...labels, result: decideOutcome({ kind: 'sent' }, this.context(row)).counter });
      // The slot frees now; the "sent" mark is batched with others finishing at the same time. If
      // the process dies before it is written, the row's lease expires and it becomes 'unknown'.
      void this.deps.sentWriter.write(
        {
          id: row.id,
          token,
          sentAt,
          sentBy: this.deps.instanceId,
          providerMessageId: result.providerMessageId ?? null,
        },
        row.recurrence_interval_seconds !== null,
      );
      return { result: 'sent' };
    } catch (err) {
      // A send cut off by its deadline may have reached the provider all the same.
      const timedOut = sendDeadline?.signal.aborted === true && (sendDeadline.signal.reason as Error | undefined)?.name === 'TimeoutError';
      return { result: await this.apply(row, token, labels, { kind: 'error', error: err as Error, timedOut }), error: err as Error };
    }
  }

  private context(row: ClaimedMessage) {
    const { retry } = this.deps.config;
    return {
      attempts: row.attempts,
      maxAttempts: maxAttemptsFor(retry, row.type),
      idempotentChannel: this.deps.idempotentChannels.includes(row.channel),
      retryDelayMs: (failed: number) => retryDelayMs(retry, row.type, failed),
    };
  }

  /** Applies an outcome that is not a send: counted, logged, the slow-down honoured, the row's next state written. */
  private async apply(
    row: ClaimedMessage,
    token: string,
    labels: { channel: string; strategy: string },
    result: Exclude<SendResult, { kind: 'sent' }>,
  ): Promise<string> {
    const decision = decideOutcome(result, this.context(row));
    if (decision.status === 'sent') return 'sent';
    const { metrics, rateLimits, db } = this.deps;
    if (decision.status === 'scheduled' && decision.slowDown) {
      const slow = decision.slowDown;
      if ('destination' in slow) rateLimits.destinationAskedToWait(slow.destination, slow.retryAfterMs);
      else await rateLimits.providerAskedToWait(row.channel, slow.retryAfterMs);
    }
    metrics.sends.inc({ ...labels, result: decision.counter });
    if (decision.log) {
      // Made here, not per send: only a failure logs about its message.
      const log = this.deps.log.child({ messageId: row.id, channel: row.channel });
      const error = result.kind === 'error' ? result.error.message : undefined;
      const fields =
        decision.status === 'scheduled'
          ? decision.slowDown
            ? { retryAfterMs: decision.slowDown.retryAfterMs, destination: 'destination' in decision.slowDown ? decision.slowDown.destination : undefined }
            : { attempts: row.attempts, retryInMs: decision.retryInMs, error }
          : decision.status === 'dead'
            ? { attempts: row.attempts, error }
            : { error };
      log[decision.log.level](decision.log.message, fields);
    }
    const write =
      decision.status === 'scheduled'
        ? { id: row.id, token, status: decision.status, error: decision.error, retryInMs: decision.retryInMs, refundAttempt: decision.refundAttempt }
        : { id: row.id, token, status: decision.status, error: decision.error };
    await persistWrite(() => recordAttemptFailure(db, write), this.deps.log, this.deps.abortSends);
    return decision.counter;
  }
}
