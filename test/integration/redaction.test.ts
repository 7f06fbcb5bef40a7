import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger } from '../../src/logging/logger';
import { redactText, redactValue } from '../../src/logging/redact';

describe('log redaction', () => {
  it('masks e-mail addresses, phone numbers and credentials inside text', () => {
    expect(redactText('send to jane.doe+crm@example.com now')).toBe('send to [email] now');
    expect(redactText('sms +14155550100 failed')).toBe('sms [phone] failed');
    expect(redactText('call (415) 555-0100')).toBe('call [phone]');
    expect(redactText('postgres://app:s3cret@db:5432/crm')).toBe('postgres://[REDACTED]@db:5432/crm');
    expect(redactText('Authorization: Bearer abc.def.ghi')).toBe('Authorization: Bearer [REDACTED]');
    // Timestamps and ids are not phone numbers.
    expect(redactText('fired 2026-11-23T10:00:00.000Z run 1234567')).toBe('fired 2026-11-23T10:00:00.000Z run 1234567');
  });

  it('drops values under secret keys, at any depth', () => {
    expect(redactValue({ password: 'p', nested: { apiKey: 'k', token: 't', name: 'ok' }, to: 'a@b.co' })).toEqual({
      password: '[REDACTED]',
      nested: { apiKey: '[REDACTED]', token: '[REDACTED]', name: 'ok' },
      to: '[email]',
    });
  });

  it('applies to every line the logger writes, child loggers included', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', instanceId: 'i-1' });
    logger.clear().add(
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk, _enc, done) {
            lines.push(String(chunk));
            done();
          },
        }),
      }),
    );
    logger.child({ job: 'j', runId: 'r' }).info('sent to bob@example.com', { phone: '+442071234567', secret: 'x' });
    const line = JSON.parse(lines[0]!);
    expect(line).toEqual(
      expect.objectContaining({ message: 'sent to [email]', phone: '[phone]', secret: '[REDACTED]', job: 'j', runId: 'r', instance: 'i-1' }),
    );
  });
});
