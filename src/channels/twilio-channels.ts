import twilio from 'twilio';
import type { TwilioChannelConfig } from '../config/config';
import type { Logger } from '../logging/logger';
import { redactText } from '../logging/redact';
import type { Channel, OutboundMessage, SendOptions, SendResult } from './channel';
import { PermanentDeliveryError, RateLimitedError, TransientDeliveryError } from './errors';
import { TwilioHttpClient } from './twilio-http-client';

type TwilioClient = ReturnType<typeof twilio>;

/**
 * SMS and WhatsApp through Twilio's Programmable Messaging API with the official twilio client.
 *
 * Twilio itself cannot be reached from this project's machines or CI: tests run these channels
 * against test/fakes/fake-twilio.ts through TWILIO_API_BASE_URL, which speaks the same
 * Messages.json protocol. Nothing else here is faked.
 *
 * The Messages API has no idempotency key, so Twilio cannot deduplicate a resend; the message
 * SID is returned as providerMessageId so an operator can reconcile a row left in doubt.
 */
export class TwilioMessagingChannel implements Channel {
  private readonly logger: Logger;

  constructor(
    readonly name: 'sms' | 'whatsapp',
    private readonly twilioClient: { client: TwilioClient; http: TwilioHttpClient },
    private readonly from: string,
    logger: Logger,
  ) {
    this.logger = logger.child({ channel: name });
  }

  async send(message: OutboundMessage, options: SendOptions): Promise<SendResult> {
    const log = this.logger.child({ messageId: message.id, tenantId: message.tenantId, recipient: message.recipient });
    const to = this.name === 'whatsapp' ? whatsappAddress(message.recipient) : message.recipient;
    // A messaging service SID (MG…) lets Twilio pick the sender from its pool.
    const sender = /^MG[0-9a-f]{32}$/i.test(this.from) ? { messagingServiceSid: this.from } : { from: this.from };
    try {
      const created = await this.twilioClient.http.withSignal(options.signal, () =>
        this.twilioClient.client.messages.create({ to, body: message.body, ...sender }),
      );
      log.debug('message accepted by Twilio', { providerMessageId: created.sid, status: created.status });
      return { providerMessageId: created.sid };
    } catch (err) {
      const mapped = options.signal.aborted
        ? new TransientDeliveryError('Twilio request aborted: the message may or may not have been accepted')
        : toDeliveryError(err);
      log.warn('message not sent', { error: mapped.message, kind: mapped.name });
      throw mapped;
    }
  }
}

/**
 * One Twilio client for both channels (they share the account). Only the channels with a sender
 * in config are returned.
 */
export function createTwilioChannels(config: TwilioChannelConfig, logger: Logger): TwilioMessagingChannel[] {
  const http = new TwilioHttpClient({ apiBaseUrl: config.apiBaseUrl });
  // env: {} and logLevel keep the client from taking credentials from the environment and from
  // printing requests (with phone numbers) to the console past the redacting logger. The client
  // still honours TWILIO_EDGE and TWILIO_REGION; TwilioHttpClient rebases those hosts as well.
  const client = twilio(config.accountSid, config.authToken, {
    httpClient: http,
    env: {},
    logLevel: 'info',
    autoRetry: false,
  });
  const channels: TwilioMessagingChannel[] = [];
  if (config.smsFrom) channels.push(new TwilioMessagingChannel('sms', { client, http }, config.smsFrom, logger));
  if (config.whatsappFrom) {
    channels.push(new TwilioMessagingChannel('whatsapp', { client, http }, whatsappAddress(config.whatsappFrom), logger));
  }
  return channels;
}

/** WhatsApp addresses are phone numbers with a whatsapp: prefix on both sides. */
export function whatsappAddress(number: string): string {
  return number.startsWith('whatsapp:') ? number : `whatsapp:${number}`;
}

/**
 * 429 → RateLimitedError (from TwilioHttpClient, with Retry-After); 408 may succeed later; other
 * 4xx (21211 invalid number, 21610 unsubscribed recipient, 401/403 bad or refused credentials)
 * cannot succeed on retry; 5xx, timeouts and refused connections may. The HTTP status decides,
 * whatever the body looks like: a proxy's HTML page, `{}` or a body whose `message` is not text
 * (the client then leaves `message` undefined or an object) is classified the same way. Twilio's
 * messages quote the phone number, so they are redacted before they reach last_error or a log line.
 */
export function toDeliveryError(err: unknown): Error {
  if (err instanceof RateLimitedError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { status?: unknown; code?: unknown; message?: unknown; name?: unknown };
  const status = typeof e.status === 'number' && Number.isInteger(e.status) && e.status >= 100 && e.status <= 599 ? e.status : undefined;
  const code = typeof e.code === 'number' || typeof e.code === 'string' ? e.code : 'none';
  const text = typeof e.message === 'string' && e.message.trim() !== '' ? redactText(e.message) : 'no readable error message in the response';
  if (status !== undefined) {
    const detail = `Twilio ${status} (code ${code}): ${text}`;
    return status >= 400 && status < 500 && status !== 408 ? new PermanentDeliveryError(detail, status) : new TransientDeliveryError(detail, status);
  }
  const name = typeof e.name === 'string' ? e.name : typeof err;
  return new TransientDeliveryError(`Twilio request failed (${code === 'none' ? name : code}): ${text}`);
}
