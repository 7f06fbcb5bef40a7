import type { ChannelName } from '../../channels/channel';
import type { Database } from '../../db/database';
import type { Logger } from '../../logging/logger';
import type { DeliveryMetrics } from '../delivery-metrics';
import { expireLeases, reconcileUnknownByResend } from '../outbox/recovery';

/**
 * Takes back the rows of claimers that died (any worker's): claimed rows whose sends never
 * started go back to 'scheduled'; rows marked 'sending' become 'unknown', and on channels whose
 * receivers deduplicate by idempotency key they are resent under the same key at once.
 */
export async function sweepExpiredLeases(deps: {
  db: Database;
  metrics: Pick<DeliveryMetrics, 'reconciled'>;
  idempotentChannels: readonly ChannelName[];
  log: Logger;
}): Promise<void> {
  const { db, metrics, idempotentChannels, log } = deps;
  const { unknown: expired, returned } = await expireLeases(db);
  if (returned > 0) log.info('claimed messages returned to scheduled: their claimer died before starting them', { returned });
  for (const row of expired) {
    const action = idempotentChannels.includes(row.channel) ? 'resent' : 'operator';
    metrics.reconciled.inc({ channel: row.channel, action });
    log.warn('message outcome unknown: its sender died after claiming it', { messageId: row.id, channel: row.channel, action });
  }
  await reconcileUnknownByResend(db, idempotentChannels);
}
