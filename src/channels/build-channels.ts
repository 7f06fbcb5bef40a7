import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import type { Channel, ChannelName } from './channel';
import { UnsubscribeLinks } from './unsubscribe-links';

/**
 * The provider channels whose settings are present: email with SMTP_URL or SMTP_HOST and
 * EMAIL_FROM, sms with Twilio credentials and TWILIO_SMS_FROM, whatsapp with Twilio credentials
 * and TWILIO_WHATSAPP_FROM. An unconfigured channel is absent from the map, so the dispatcher
 * can fail its messages permanently with a clear error instead of trying a half-built client.
 * Webhook and log channels are built by the delivery engine. E-mail carries one-click
 * unsubscribe links when UNSUBSCRIBE_SECRET (and so PUBLIC_BASE_URL) is set.
 *
 * Each provider's client library is loaded only when its channel is configured: nodemailer and
 * twilio cost a worker that never sends e-mail or SMS start time and resident memory for nothing
 * (twilio alone is about 190 ms and several MB of heap here).
 */
export async function buildChannels(
  config: Pick<Config, 'channels'> & Partial<Pick<Config, 'inbound'>>,
  deps: { logger: Logger },
): Promise<Map<ChannelName, Channel>> {
  const channels = new Map<ChannelName, Channel>();
  const { email, twilio } = config.channels;
  if (email) {
    const { EmailChannel } = await import('./email-channel');
    channels.set('email', new EmailChannel(email, deps.logger, {}, unsubscribeLinksOf(config)));
  }
  if (twilio) {
    const { createTwilioChannels } = await import('./twilio-channels');
    for (const channel of createTwilioChannels(twilio, deps.logger)) channels.set(channel.name, channel);
  }
  return channels;
}

/** The signer of unsubscribe links, when both its secret and the public URL are configured. */
export function unsubscribeLinksOf(config: Partial<Pick<Config, 'inbound'>>): UnsubscribeLinks | undefined {
  const { unsubscribeSecret, publicBaseUrl } = config.inbound ?? {};
  return unsubscribeSecret && publicBaseUrl ? new UnsubscribeLinks(unsubscribeSecret, publicBaseUrl) : undefined;
}
