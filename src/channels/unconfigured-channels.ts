import type { Logger } from '../logging/logger';
import type { Channel, ChannelName } from './channel';
import { LogChannel } from './log-channel';

/** The provider channels and the settings that configure each (named in the startup warning). */
export const PROVIDER_CHANNEL_SETTINGS = {
  email: 'SMTP_URL or SMTP_HOST, with EMAIL_FROM',
  sms: 'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM',
  whatsapp: 'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM',
} as const satisfies Partial<Record<ChannelName, string>>;

/**
 * Puts the log channel in place of every provider channel that is not configured, as the README
 * promises ("messages go to the log channel until a channel is configured"): CRM modules
 * (campaigns, reminders, nurture, dunning) schedule e-mail and SMS, and on a fresh machine those
 * would otherwise all fail permanently with no warning. Each stand-in is named in a startup
 * warning with the settings that would configure it. Returns the channels it stood in for.
 */
export function standInForUnconfigured(channels: Map<ChannelName, Channel>, logger: Logger): ChannelName[] {
  const missing: ChannelName[] = [];
  for (const [name, settings] of Object.entries(PROVIDER_CHANNEL_SETTINGS) as Array<[ChannelName, string]>) {
    if (channels.has(name)) continue;
    channels.set(name, new LogChannel(logger, name));
    missing.push(name);
    logger.warn(`channel ${name} is not configured: its messages go to the log channel, nothing is sent`, {
      channel: name,
      configureWith: settings,
    });
  }
  return missing;
}
