import { buildChannels } from '../../src/channels/build-channels';
import { ConfigError, loadConfig } from '../../src/config/config';
import { createCapturingLogger } from '../fakes/capturing-logger';
import { startFakeTwilio } from '../fakes/fake-twilio';
import { startSmtpSink } from '../fakes/smtp-sink';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => p.variable).sort();
  }
};

describe('buildChannels', () => {
  const logger = createCapturingLogger().logger;

  it('builds no provider channel when nothing is configured', async () => {
    expect([...(await buildChannels(loadConfig({}), { logger })).keys()]).toEqual([]);
  });

  it('builds each channel whose settings are present, and only those', async () => {
    const smsOnly = loadConfig({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'token', TWILIO_SMS_FROM: '+15005550006' });
    expect([...(await buildChannels(smsOnly, { logger })).keys()]).toEqual(['sms']);

    const all = loadConfig({
      SMTP_URL: 'smtp://user:pass@127.0.0.1:2525',
      EMAIL_FROM: 'CRM <crm@crm.example>',
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_SMS_FROM: '+15005550006',
      TWILIO_WHATSAPP_FROM: '+14155238886',
    });
    expect([...(await buildChannels(all, { logger })).keys()].sort()).toEqual(['email', 'sms', 'whatsapp']);
  });

  it('sends through channels built from the environment', async () => {
    const [sink, twilio] = await Promise.all([startSmtpSink(), startFakeTwilio()]);
    try {
      const config = loadConfig({
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(sink.port),
        EMAIL_FROM: 'crm@crm.example',
        TWILIO_ACCOUNT_SID: twilio.accountSid,
        TWILIO_AUTH_TOKEN: twilio.authToken,
        TWILIO_API_BASE_URL: twilio.baseUrl,
        TWILIO_WHATSAPP_FROM: 'whatsapp:+14155238886',
      });
      const channels = await buildChannels(config, { logger });
      const base = { id: 'm1', tenantId: 't1', body: 'Hello', type: 'follow_up', metadata: {} };
      const options = { idempotencyKey: 'k1', signal: new AbortController().signal };

      await channels.get('email')!.send({ ...base, channel: 'email', recipient: 'a@customer.example', subject: 'Hi' }, options);
      await channels.get('whatsapp')!.send({ ...base, channel: 'whatsapp', recipient: '+14155550123' }, options);

      expect(sink.received.map((m) => m.subject)).toEqual(['Hi']);
      expect(twilio.messages.map((m) => [m.from, m.to])).toEqual([['whatsapp:+14155238886', 'whatsapp:+14155550123']]);
      expect(channels.has('sms')).toBe(false);
    } finally {
      await Promise.all([sink.close(), twilio.close()]);
    }
  });
});

describe('channel configuration problems', () => {
  it('reports half-configured channels all at once', () => {
    expect(problemsOf({ SMTP_HOST: 'mail.example', TWILIO_SMS_FROM: '+15005550006' })).toEqual(['EMAIL_FROM', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN']);
    expect(problemsOf({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 't' })).toEqual(['TWILIO_SMS_FROM']);
    expect(problemsOf({ EMAIL_FROM: 'crm@crm.example' })).toEqual(['SMTP_HOST']);
    expect(problemsOf({ SMTP_HOST: 'h', EMAIL_FROM: 'crm@crm.example', SMTP_USER: 'u' })).toEqual(['SMTP_PASS']);
  });

  it('rejects malformed values and never echoes secrets', () => {
    try {
      loadConfig({
        SMTP_URL: 'http://mail.example',
        EMAIL_FROM: 'not an address',
        TWILIO_ACCOUNT_SID: 'nope',
        TWILIO_AUTH_TOKEN: 'secret-token-value',
        TWILIO_SMS_FROM: '+15005550006',
        OPENAI_TIMEOUT_MS: 'soon',
      });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as ConfigError).message;
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['EMAIL_FROM', 'OPENAI_TIMEOUT_MS', 'SMTP_URL', 'TWILIO_ACCOUNT_SID']);
      expect(text).not.toContain('http://mail.example');
    }
  });
});
