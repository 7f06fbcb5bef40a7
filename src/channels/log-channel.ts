import type { Logger } from '../logging/logger';
import type { Channel, OutboundMessage, SendOptions, SendResult } from './channel';

/**
 * Writes the message to the worker's log instead of sending it. The default when no provider is
 * configured, so the embedded default shows its work end to end.
 */
export class LogChannel implements Channel {
  readonly name = 'log' as const;

  constructor(private readonly logger: Logger) {}

  async send(message: OutboundMessage, options: SendOptions): Promise<SendResult> {
    this.logger.info('message delivered to log channel', {
      messageId: message.id,
      tenantId: message.tenantId,
      recipient: message.recipient,
      type: message.type,
      idempotencyKey: options.idempotencyKey,
      subject: message.subject,
      body: message.body,
    });
    return { providerMessageId: `log-${message.id}` };
  }
}
