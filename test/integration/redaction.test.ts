import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger } from '../../src/logging/logger';
import { loadConfig, secretValuesOf } from '../../src/config/config';
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

  it('masks a password-only URL (redis://:password@) and key=value credentials in free text', () => {
    expect(redactText('connect redis://:hunter2hunter2@cache:6379/0 failed')).toBe('connect redis://[REDACTED]@cache:6379/0 failed');
    expect(redactText('rediss://default:pw@cache:6380')).toBe('rediss://[REDACTED]@cache:6380');
    expect(redactText('host=db user=app password=s3cret-pw dbname=crm')).toBe('host=db user=app password=[REDACTED] dbname=crm');
    expect(redactText('login failed: Password: opensesame')).toBe('login failed: Password: [REDACTED]');
    expect(redactText('GET /cb?api_key=abc123&x=1')).toBe('GET /cb?api_key=[REDACTED]&x=1');
    expect(redactText('x-api-key: 0123456789abcdef0123')).toBe('x-api-key: [REDACTED]');
    expect(redactText('{"apiKey":"abc","name":"ok"}')).toBe('{"apiKey":"[REDACTED]","name":"ok"}');
    expect(redactText("pwd='a b c' next")).toBe("pwd='[REDACTED]' next");
    // Words that merely contain "token" or "pass" are not touched.
    expect(redactText('claim token mismatch; passed 3 checks')).toBe('claim token mismatch; passed 3 checks');
  });

  it('drops values under secret keys, at any depth', () => {
    expect(redactValue({ password: 'p', nested: { apiKey: 'k', token: 't', name: 'ok' }, to: 'a@b.co' })).toEqual({
      password: '[REDACTED]',
      nested: { apiKey: '[REDACTED]', token: '[REDACTED]', name: 'ok' },
      to: '[email]',
    });
  });

  it("masks the worker's own configured secrets by value in every line", () => {
    const apiKey = 'k3y-of-the-api-0123456789';
    const config = loadConfig({
      API_KEY: apiKey,
      REDIS_URL: 'redis://:redis-pass-42@cache:6379',
      DATABASE_URL: 'postgres://app:db-pass-4242@db:5432/crm',
      WEBHOOK_SECRET: 'whsec-0123456789',
    });
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', instanceId: 'i-1', secrets: secretValuesOf(config) });
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
    // Secrets quoted under no recognisable key, as an error text or a request dump would.
    logger.warn(`request carried ${apiKey} in its body`, { detail: `echo ${apiKey}|redis-pass-42|db-pass-4242|whsec-0123456789` });
    const line = JSON.parse(lines[0]!);
    expect(line.message).toBe('request carried [REDACTED] in its body');
    expect(line.detail).toBe('echo [REDACTED]|[REDACTED]|[REDACTED]|[REDACTED]');
    expect(lines[0]).not.toContain(apiKey);
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
