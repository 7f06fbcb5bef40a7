import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutboundMessage } from '../../src/channels/channel';
import { PermanentDeliveryError, RateLimitedError, TransientDeliveryError } from '../../src/channels/errors';
import { createTwilioChannels, type TwilioMessagingChannel } from '../../src/channels/twilio-channels';
import { retryAfterMs } from '../../src/channels/twilio-http-client';
import type { TwilioChannelConfig } from '../../src/config/config';
import { createCapturingLogger } from '../fakes/capturing-logger';
import { startFakeTwilio, type FakeTwilio } from '../fakes/fake-twilio';

describe('Twilio SMS and WhatsApp channels against the fake Twilio API', () => {
  let fake: FakeTwilio;
  let sms: TwilioMessagingChannel;
  let whatsapp: TwilioMessagingChannel;
  let logLines: string[];

  const message = (channel: 'sms' | 'whatsapp', recipient: string): OutboundMessage => ({
    id: 'msg-7',
    tenantId: 'tenant-1',
    channel,
    recipient,
    body: 'Hi Sam, just checking in about your roof inspection tomorrow at 9.',
    type: 'follow_up',
    metadata: {},
  });
  const options = () => ({ idempotencyKey: 'k-1', signal: new AbortController().signal });

  const build = (overrides: Partial<TwilioChannelConfig> = {}) => {
    const captured = createCapturingLogger();
    logLines = captured.lines;
    const channels = createTwilioChannels(
      {
        accountSid: fake.accountSid,
        authToken: fake.authToken,
        apiBaseUrl: fake.baseUrl,
        smsFrom: '+15005550006',
        whatsappFrom: '+14155238886',
        ...overrides,
      },
      captured.logger,
    );
    return new Map(channels.map((c) => [c.name, c]));
  };

  beforeAll(async () => {
    fake = await startFakeTwilio();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.messages.length = 0;
    const channels = build();
    sms = channels.get('sms')!;
    whatsapp = channels.get('whatsapp')!;
  });

  it('sends an SMS through the official client and returns the message SID', async () => {
    const result = await sms.send(message('sms', '+14155550123'), options());

    expect(fake.messages).toHaveLength(1);
    const sent = fake.messages[0]!;
    expect(sent).toMatchObject({ to: '+14155550123', from: '+15005550006', body: message('sms', '').body });
    expect(sent.headers['user-agent']).toMatch(/^twilio-node\//);
    expect(result.providerMessageId).toBe(sent.sid);
    expect(result.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
  });

  it('sends WhatsApp with whatsapp: on both numbers', async () => {
    await whatsapp.send(message('whatsapp', '+14155550123'), options());
    await whatsapp.send(message('whatsapp', 'whatsapp:+14155550124'), options());

    expect(fake.messages.map((m) => [m.from, m.to])).toEqual([
      ['whatsapp:+14155238886', 'whatsapp:+14155550123'],
      ['whatsapp:+14155238886', 'whatsapp:+14155550124'],
    ]);
  });

  it('uses a messaging service SID as the sender when one is configured', async () => {
    const mg = `MG${'a'.repeat(32)}`;
    await build({ smsFrom: mg }).get('sms')!.send(message('sms', '+14155550123'), options());
    expect(fake.messages[0]).toMatchObject({ messagingServiceSid: mg, from: undefined });
  });

  it('maps 429 with Retry-After to RateLimitedError carrying the delay', async () => {
    fake.reply({ status: 429, retryAfterSeconds: 7 });
    const error = await sms.send(message('sms', '+14155550123'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(7_000);
    expect(fake.messages).toHaveLength(0);
  });

  it('maps an invalid number (400, code 21211) to a permanent error', async () => {
    const error = await sms.send(message('sms', '+1234'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).status).toBe(400);
    expect((error as Error).message).toContain('21211');
  });

  it('maps a scripted 400 and bad credentials (401) to permanent errors', async () => {
    fake.reply({ status: 400, code: 21211, message: "The 'To' number +14155550123 is not a valid phone number." });
    await expect(sms.send(message('sms', '+14155550123'), options())).rejects.toBeInstanceOf(PermanentDeliveryError);

    const wrongToken = build({ authToken: 'wrong' }).get('sms')!;
    const error = await wrongToken.send(message('sms', '+14155550123'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).status).toBe(401);
  });

  // A proxy, a gateway or a Twilio change can answer in another shape than {code, message, status}:
  // the HTTP status still decides, and a refused credential is never retried.
  it.each([
    [401, '{"error":"unauthorized"}', 'application/json'],
    [403, '"Forbidden"', 'application/json'],
    [401, '[]', 'application/json'],
    [403, '<html><body>403 Forbidden</body></html>', 'text/html'],
    [401, '', 'text/plain'],
    [403, '{"type":"https://www.twilio.com/docs/errors/20003","title":"Forbidden","status":403,"code":20003}', 'application/problem+json'],
    [400, '{"message":{"nested":true}}', 'application/json'],
  ])('maps %i with an unexpected body %j to a permanent error', async (status, rawBody, contentType) => {
    fake.reply({ status, rawBody, contentType });
    const error = await sms.send(message('sms', '+14155550123'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).status).toBe(status);
    expect((error as Error).message).toContain(`Twilio ${status}`);
  });

  it('maps 5xx with an unexpected body to a transient error', async () => {
    fake.reply({ status: 502, rawBody: '<html>Bad Gateway</html>', contentType: 'text/html' }, { status: 503, rawBody: '{}' });
    for (const status of [502, 503]) {
      const error = await sms.send(message('sms', '+14155550123'), options()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect((error as TransientDeliveryError).status).toBe(status);
    }
  });

  it('maps 500 to a transient error, and the next attempt goes through', async () => {
    fake.reply({ status: 500 });
    const error = await sms.send(message('sms', '+14155550123'), options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).status).toBe(500);

    await expect(sms.send(message('sms', '+14155550123'), options())).resolves.toHaveProperty('providerMessageId');
  });

  it('maps a refused connection to a transient error', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((r) => server.close(() => r()));

    const offline = build({ apiBaseUrl: `http://127.0.0.1:${port}` }).get('sms')!;
    await expect(offline.send(message('sms', '+14155550123'), options())).rejects.toBeInstanceOf(TransientDeliveryError);
  });

  it('stops a request when the dispatcher aborts it', async () => {
    const hanging = http.createServer(() => undefined); // never answers
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = hanging.address() as AddressInfo;
      const channel = build({ apiBaseUrl: `http://127.0.0.1:${port}` }).get('sms')!;
      const controller = new AbortController();
      const sending = channel.send(message('sms', '+14155550123'), { idempotencyKey: 'k', signal: controller.signal });
      setTimeout(() => controller.abort(new Error('lease lost')), 50);
      const error = await sending.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect((error as Error).message).toContain('aborted');
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((r) => hanging.close(() => r()));
    }
  });

  it('keeps phone numbers out of logs and error texts', async () => {
    // Twilio's error texts quote the number; so does the recipient field of every log line.
    fake.reply({ status: 400, code: 21211, message: "The 'To' number +14155550199 is not a valid phone number." });
    const error = await sms.send(message('sms', '+14155550199'), options()).catch((e: Error) => e);
    await sms.send(message('sms', '+14155550123'), options());
    await whatsapp.send(message('whatsapp', '+14155550124'), options());

    const logs = logLines.join('\n');
    expect(logLines.length).toBe(3);
    expect(logs).not.toMatch(/4155550(199|123|124)/);
    expect(logs).toContain('[phone]');
    expect((error as Error).message).toContain('21211');
    expect((error as Error).message).not.toContain('4155550199');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3_000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs(undefined, now)).toBeGreaterThan(0);
    expect(retryAfterMs('soon', now)).toBeGreaterThan(0);
  });
});
