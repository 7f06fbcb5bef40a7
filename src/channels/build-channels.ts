import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import type { Channel, ChannelName } from './channel';
import { EmailChannel } from './email-channel';
import { createTwilioChannels } from './twilio-channels';
import { UnsubscribeLinks } from './unsubscribe-links';

/**
 * The provider channels whose settings are present: email with SMTP_URL or SMTP_HOST and
 * EMAIL_FROM, sms with Twilio credentials and TWILIO_SMS_FROM, whatsapp with Twilio credentials
 * and TWILIO_WHATSAPP_FROM. An unconfigured channel is absent from the map, so the dispatcher
 * can fail its messages permanently with a clear error instead of trying a half-built client.
 * Webhook and log channels are built by the delivery engine. E-mail carries one-click
 * unsubscribe links when UNSUBSCRIBE_SECRET (and so PUBLIC_BASE_URL) is set.
 */
export function buildChannels(config: Pick<Config, 'channels'> & Partial<Pick<Config, 'inbound'>>, deps: { logger: Logger }): Map<ChannelName, Channel> {
  const channels = new Map<ChannelName, Channel>();
  const { email, twilio } = config.channels;
  const links = unsubscribeLinksOf(config);
  if (email) channels.set('email', new EmailChannel(email, deps.logger, {}, links));
  if (twilio) {
    for (const channel of createTwilioChannels(twilio, deps.logger)) channels.set(channel.name, channel);
  }
  return channels;
}

/** The signer of unsubscribe links, when both its secret and the public URL are configured. */
export function unsubscribeLinksOf(config: Partial<Pick<Config, 'inbound'>>): UnsubscribeLinks | undefined {
  const { unsubscribeSecret, publicBaseUrl } = config.inbound ?? {};
  return unsubscribeSecret && publicBaseUrl ? new UnsubscribeLinks(unsubscribeSecret, publicBaseUrl) : undefined;
}
