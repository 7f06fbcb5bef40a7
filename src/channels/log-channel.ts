import type { Logger } from '../logging/logger';
import type { Channel, ChannelName, OutboundMessage, SendOptions, SendResult } from './channel';

/**
 * Writes the message to the worker's log instead of sending it. The `log` channel itself, and the
 * stand-in for a provider channel (email, sms, whatsapp) whose settings are absent, so the
 * embedded default shows its work end to end instead of failing every CRM message.
 */
export class LogChannel implements Channel {
  constructor(
    private readonly logger: Logger,
    readonly name: ChannelName = 'log',
  ) {}

  async send(message: OutboundMessage, options: SendOptions): Promise<SendResult> {
    this.logger.info('message delivered to log channel', {
      messageId: message.id,
      tenantId: message.tenantId,
      channel: message.channel,
      // Set when this stands in for a provider channel that is not configured.
      ...(this.name !== 'log' ? { unconfiguredChannel: this.name } : {}),
      recipient: message.recipient,
      type: message.type,
      idempotencyKey: options.idempotencyKey,
      subject: message.subject,
      body: message.body,
    });
    return { providerMessageId: `log-${message.id}` };
  }
}
