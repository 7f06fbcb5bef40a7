import { EmailChannel, messageIdFor } from '../../src/channels/email-channel';
import type { OutboundMessage } from '../../src/channels/channel';
import { PermanentDeliveryError, TransientDeliveryError } from '../../src/channels/errors';
import { UnsubscribeLinks } from '../../src/channels/unsubscribe-links';
import type { EmailChannelConfig } from '../../src/config/config';
import { createCapturingLogger } from '../fakes/capturing-logger';
import { startSmtpSink, type SmtpSink } from '../fakes/smtp-sink';

describe('EmailChannel against a real SMTP server', () => {
  let sink: SmtpSink;
  let channel: EmailChannel;
  let logLines: string[];

  const message = (recipient: string, overrides: Partial<OutboundMessage> = {}): OutboundMessage => ({
    id: 'msg-1',
    tenantId: 'tenant-1',
    channel: 'email',
    recipient,
    subject: 'Your quote is ready',
    body: 'Hi Dana,\n\nyour quote is ready. Reply to this e-mail with any questions.',
    type: 'follow_up',
    metadata: {},
    ...overrides,
  });
  const options = (idempotencyKey: string) => ({ idempotencyKey, signal: new AbortController().signal });

  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  beforeEach(() => {
    sink.received.length = 0;
    sink.rejectRecipients.clear();
    const config: EmailChannelConfig = {
      url: undefined,
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      user: 'crm',
      pass: 'not-a-real-password',
      from: 'CRM Follow-ups <followups@crm.example>',
    };
    const captured = createCapturingLogger();
    logLines = captured.lines;
    channel = new EmailChannel(config, captured.logger);
  });

  it('delivers subject, body, sender and the idempotency key as Message-ID and header', async () => {
    const result = await channel.send(message('dana.lee@customer.example'), options('followup-42-1'));

    expect(sink.received).toHaveLength(1);
    const mail = sink.received[0]!;
    expect(mail.subject).toBe('Your quote is ready');
    expect(mail.text?.trim()).toBe('Hi Dana,\n\nyour quote is ready. Reply to this e-mail with any questions.');
    expect(mail.from?.value[0]?.address).toBe('followups@crm.example');
    expect((Array.isArray(mail.to) ? mail.to[0] : mail.to)?.value[0]?.address).toBe('dana.lee@customer.example');
    expect(mail.messageId).toBe('<followup-42-1@crm.example>');
    expect(mail.headers.get('idempotency-key')).toBe('followup-42-1');
    expect(result.providerMessageId).toBe('<followup-42-1@crm.example>');
  });

  it('gives the same Message-ID for the same key, hashing keys that are not dot-atoms', () => {
    const a = messageIdFor('tenant 1/lead:7', 'crm.example');
    expect(a).toMatch(/^<[0-9a-f]{40}@crm\.example>$/);
    expect(messageIdFor('tenant 1/lead:7', 'crm.example')).toBe(a);
  });

  it('maps a 550 rejection to a permanent error', async () => {
    sink.rejectRecipients.set('gone@customer.example', 550);
    const error = await channel.send(message('gone@customer.example'), options('k-550')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).status).toBe(550);
    expect(sink.received).toHaveLength(0);
  });

  it('without unsubscribe links (no UNSUBSCRIBE_SECRET) a message has no List-Unsubscribe header', async () => {
    await channel.send(message('dana.lee@customer.example'), options('k-no-list'));
    expect(sink.received[0]!.headerLines.filter((h) => h.key.startsWith('list-unsubscribe'))).toEqual([]);
  });

  it('with unsubscribe links every message carries RFC 8058 one-click headers for its tenant and recipient', async () => {
    const links = new UnsubscribeLinks('email-channel-test-secret-0123456789', 'https://worker.example.com');
    const config: EmailChannelConfig = {
      url: undefined,
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      user: undefined,
      pass: undefined,
      from: 'a@crm.example',
    };
    const linked = new EmailChannel(config, createCapturingLogger().logger, {}, links);
    await linked.send(message('Dana.Lee@customer.example'), options('k-list'));
    const headers = Object.fromEntries(sink.received[0]!.headerLines.map((h) => [h.key, h.line.slice(h.line.indexOf(':') + 1).trim()]));
    const url = links.urlFor({ tenantId: 'tenant-1', channel: 'email', recipient: 'dana.lee@customer.example' });
    expect(headers['list-unsubscribe']).toBe(`<${url}>`);
    expect(headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    expect(links.verify(url.split('/').pop()!)).toEqual({ tenantId: 'tenant-1', channel: 'email', recipient: 'dana.lee@customer.example' });
  });

  it('maps a 451 reply to a transient error', async () => {
    sink.rejectRecipients.set('busy@customer.example', 451);
    const error = await channel.send(message('busy@customer.example'), options('k-451')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).status).toBe(451);
  });

  it('maps a refused connection to a transient error', async () => {
    const closed = await startSmtpSink();
    const port = closed.port;
    await closed.close();
    const offline = new EmailChannel(
      { url: undefined, host: '127.0.0.1', port, secure: false, user: undefined, pass: undefined, from: 'a@crm.example' },
      createCapturingLogger().logger,
    );
    await expect(offline.send(message('dana.lee@customer.example'), options('k-down'))).rejects.toBeInstanceOf(TransientDeliveryError);
  });

  it('does not send when the dispatcher has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('lease lost'));
    await expect(channel.send(message('dana.lee@customer.example'), { idempotencyKey: 'k-abort', signal: controller.signal })).rejects.toBeInstanceOf(
      TransientDeliveryError,
    );
    expect(sink.received).toHaveLength(0);
  });

  it('keeps the recipient address out of logs and error texts', async () => {
    sink.rejectRecipients.set('private.person@customer.example', 550);
    const error = await channel.send(message('private.person@customer.example'), options('k-log')).catch((e: Error) => e);
    await channel.send(message('dana.lee@customer.example'), options('k-log-2'));

    const logs = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    expect(logs).not.toContain('private.person@customer.example');
    expect(logs).not.toContain('dana.lee@customer.example');
    expect(logs).toContain('[email]');
    expect((error as Error).message).not.toContain('private.person@customer.example');
  });
});
