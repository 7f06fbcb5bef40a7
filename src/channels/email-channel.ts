import { createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';
import type { EmailChannelConfig } from '../config/config';
import type { Logger } from '../logging/logger';
import { redactText } from '../logging/redact';
import type { Channel, OutboundMessage, SendOptions, SendResult } from './channel';
import { PermanentDeliveryError, TransientDeliveryError } from './errors';
import type { UnsubscribeLinks } from './unsubscribe-links';

type SmtpError = Error & { code?: string; responseCode?: number; response?: string; command?: string };

// Errors nodemailer raises before any SMTP reply that a retry cannot fix: the message or its
// envelope is wrong (no valid recipient), or the configuration is. Anything else without a reply
// code (ECONNECTION, ETIMEDOUT, ESOCKET, EDNS, ETLS, EABORT, ...) is worth another attempt.
const PERMANENT_CODES = new Set(['EENVELOPE', 'EMESSAGE', 'ECONFIG', 'ENOAUTH', 'EREQUIRETLS']);

/**
 * E-mail over SMTP through nodemailer. One connection per message (no pool): follow-up volumes
 * are small, and nothing stays open for shutdown to close. The idempotency key becomes the
 * Message-ID and an Idempotency-Key header, so a resend after a crash can be recognised by the
 * receiving side and by an operator searching the mail log. With unsubscribe links configured
 * (UNSUBSCRIBE_SECRET and PUBLIC_BASE_URL) every message carries List-Unsubscribe and
 * List-Unsubscribe-Post (RFC 8058 one-click) for its tenant and recipient.
 */
export class EmailChannel implements Channel {
  readonly name = 'email' as const;
  private readonly transport: ReturnType<typeof createTransport>;
  private readonly messageIdDomain: string;

  constructor(
    private readonly config: EmailChannelConfig,
    private readonly logger: Logger,
    timeouts: { connectionMs?: number; socketMs?: number } = {},
    private readonly unsubscribe?: UnsubscribeLinks,
  ) {
    const connectionTimeout = timeouts.connectionMs ?? 10_000;
    const socketTimeout = timeouts.socketMs ?? 30_000;
    const common = { connectionTimeout, greetingTimeout: connectionTimeout, socketTimeout };
    this.transport = config.url
      ? createTransport({ url: config.url, ...common })
      : createTransport({
          host: config.host,
          port: config.port,
          secure: config.secure,
          auth: config.user ? { user: config.user, pass: config.pass } : undefined,
          ...common,
        });
    this.messageIdDomain = /@([^>\s]+)>?\s*$/.exec(config.from)?.[1] ?? 'crm-worker.invalid';
    this.logger = logger.child({ channel: this.name });
  }

  async send(message: OutboundMessage, options: SendOptions): Promise<SendResult> {
    const log = this.logger.child({ messageId: message.id, tenantId: message.tenantId, recipient: message.recipient });
    try {
      const info = await this.transport.sendMail({
        from: this.config.from,
        to: message.recipient,
        subject: message.subject ?? '',
        text: message.body,
        messageId: messageIdFor(options.idempotencyKey, this.messageIdDomain),
        headers: { 'Idempotency-Key': options.idempotencyKey, ...this.unsubscribeHeaders(message) },
        signal: options.signal,
      });
      log.debug('email accepted by SMTP server', { providerMessageId: info.messageId, response: info.response });
      return { providerMessageId: info.messageId };
    } catch (err) {
      const mapped = toDeliveryError(err as SmtpError);
      log.warn('email not sent', { error: mapped.message, permanent: mapped instanceof PermanentDeliveryError });
      throw mapped;
    }
  }

  private unsubscribeHeaders(message: OutboundMessage): Record<string, string> {
    if (!this.unsubscribe) return {};
    const url = this.unsubscribe.urlFor({ tenantId: message.tenantId, channel: 'email', recipient: message.recipient });
    // RFC 8058: the HTTPS URI in angle brackets, and the POST body a one-click client sends to it.
    return { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
  }
}

/** <key@domain> when the key is a valid dot-atom, else a hash of it: the same key, the same id. */
export function messageIdFor(idempotencyKey: string, domain: string): string {
  const local = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(idempotencyKey)
    ? idempotencyKey
    : createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40);
  return `<${local}@${domain}>`;
}

/**
 * 5xx replies are final (a 550 mailbox unavailable stays unavailable), except 503 (bad sequence
 * of commands), which nodemailer also treats as retryable; 4xx replies (451, 421, 452) are
 * temporary by definition. Provider texts quote addresses, so they are redacted before they
 * reach the outbox's last_error column or a log line.
 */
export function toDeliveryError(err: SmtpError): PermanentDeliveryError | TransientDeliveryError {
  const code = err.responseCode;
  const text = redactText(err.response ?? err.message).replace(/^\d{3}[ -]/, '');
  if (code !== undefined && code >= 500 && code !== 503) {
    return new PermanentDeliveryError(`SMTP ${code}: ${text}`, code);
  }
  if (code !== undefined) return new TransientDeliveryError(`SMTP ${code}: ${text}`, code);
  if (err.code && PERMANENT_CODES.has(err.code)) return new PermanentDeliveryError(`SMTP ${err.code}: ${text}`);
  return new TransientDeliveryError(`SMTP ${err.code ?? 'error'}: ${text}`);
}
