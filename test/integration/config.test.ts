import { ConfigError, loadConfig } from '../../src/config/config';
import { spawnWorker } from '../support/worker-process';

describe('configuration from the environment', () => {
  it('uses the design defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3002);
    expect(config.campaigns).toEqual({ batchSize: 100, batchDelayMs: 5000 });
    expect(config.scheduler.lockTtlMs).toBe(60_000);
    expect(config.scheduler.shutdownTimeoutMs).toBe(5_000);
    expect(config.scheduler.timezone).toBe('UTC');
    expect(config.scheduler.schedules).toEqual({
      'campaign-scheduler': '0 * * * * *',
      'lead-reminder-scheduler': '0 0 */1 * * *',
      'call-scheduler': '*/30 * * * * *',
      'trial-expiration': '0 0 * * * *',
      'call-cleanup': '0 30 3 * * *',
    });
    expect(config.database.url).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
  });

  it('derives schedules from the design intervals, and an explicit *_CRON wins', () => {
    const config = loadConfig({ CALL_SCHEDULER_INTERVAL: '10', LEAD_REMINDER_INTERVAL: '15', TRIAL_EXPIRATION_CRON: '*/2 * * * * *' });
    expect(config.scheduler.schedules['call-scheduler']).toBe('*/10 * * * * *');
    expect(config.scheduler.schedules['lead-reminder-scheduler']).toBe('0 */15 * * * *');
    expect(config.scheduler.schedules['trial-expiration']).toBe('*/2 * * * * *');
  });

  it("honours the design's IS_WORKER as JOBS_ENABLED, and refuses the two saying different things", () => {
    expect(loadConfig({}).scheduler.jobsEnabled).toBe(true);
    expect(loadConfig({ IS_WORKER: 'false' }).scheduler.jobsEnabled).toBe(false);
    expect(loadConfig({ IS_WORKER: 'true' }).scheduler.jobsEnabled).toBe(true);
    expect(loadConfig({ JOBS_ENABLED: 'false' }).scheduler.jobsEnabled).toBe(false);
    expect(loadConfig({ IS_WORKER: 'false', JOBS_ENABLED: 'no' }).scheduler.jobsEnabled).toBe(false);
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.variable}: ${p.message}`);
      }
    };
    expect(problems({ IS_WORKER: 'false', JOBS_ENABLED: 'true' })).toEqual([expect.stringMatching(/^IS_WORKER: is false but JOBS_ENABLED is true/)]);
    expect(problems({ IS_WORKER: 'sometimes' })).toEqual([expect.stringMatching(/^IS_WORKER: must be true or false/)]);
  });

  it('reads the HTTP bind address, refusing what is not an address', () => {
    expect(loadConfig({}).http.bindAddress).toBeUndefined();
    expect(loadConfig({ BIND_ADDRESS: '127.0.0.1' }).http.bindAddress).toBe('127.0.0.1');
    expect(loadConfig({ BIND_ADDRESS: '::' }).http.bindAddress).toBe('::');
    expect(() => loadConfig({ BIND_ADDRESS: 'every-interface' })).toThrow(/BIND_ADDRESS: must be an IP address/);
  });

  it('reads the public base URL and the unsubscribe secret, refusing a secret without the URL', () => {
    expect(loadConfig({}).inbound).toEqual({ publicBaseUrl: undefined, unsubscribeSecret: undefined });
    const secret = 'a'.repeat(32);
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://worker.example.com//', UNSUBSCRIBE_SECRET: secret }).inbound).toEqual({
      publicBaseUrl: 'https://worker.example.com',
      unsubscribeSecret: secret,
    });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.variable}: ${p.message}`);
      }
    };
    expect(problems({ UNSUBSCRIBE_SECRET: secret })).toEqual([expect.stringMatching(/^PUBLIC_BASE_URL: is required with UNSUBSCRIBE_SECRET/)]);
    expect(problems({ PUBLIC_BASE_URL: 'https://w.example.com', UNSUBSCRIBE_SECRET: 'short' })).toEqual(['UNSUBSCRIBE_SECRET: must be at least 32 characters']);
    expect(problems({ PUBLIC_BASE_URL: 'ftp://w.example.com' })).toEqual([expect.stringMatching(/^PUBLIC_BASE_URL: must be a URL starting with http/)]);
    expect(problems({ PUBLIC_BASE_URL: 'https://w.example.com/?a=1' })).toEqual([expect.stringMatching(/^PUBLIC_BASE_URL: must be a base URL without query/)]);
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.scheduler.schedules)).toBe(true);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reports every problem at once, one per variable, and never echoes secrets', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        PORT: 'abc',
        LOCK_TTL_MS: '5',
        CRON_TIMEZONE: 'Mars/Olympus',
        CALL_CLEANUP_CRON: '61 * * * *',
        DATABASE_URL: 'mysql://user:hunter2@db/crm',
        CALL_SCHEDULER_INTERVAL: '7',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const variables = error!.problems.map((p) => p.variable).sort();
    expect(variables).toEqual(['CALL_CLEANUP_CRON', 'CRON_TIMEZONE', 'DATABASE_URL', 'LOCK_TTL_MS', 'PORT']);
    expect(error!.message).not.toContain('hunter2');
    expect(error!.problems.find((p) => p.variable === 'PORT')!.message).toContain('"abc"');
    // Interval problems are reported once the basic values parse.
    expect(() => loadConfig({ CALL_SCHEDULER_INTERVAL: '7' })).toThrow(/CALL_SCHEDULER_INTERVAL/);
  });

  it('refuses a delivery lease shorter than twice the send timeout, naming the lease and the timeout', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ DELIVERY_LEASE_MS: '20000', DELIVERY_SEND_TIMEOUT_MS: '10001' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      { variable: 'DELIVERY_LEASE_MS', message: expect.stringMatching(/at least twice DELIVERY_SEND_TIMEOUT_MS \(10001\).*"20000"/) },
    ]);
    // The default send timeout (10 s) needs at least a 20 s lease; exactly twice is enough.
    expect(() => loadConfig({ DELIVERY_LEASE_MS: '15000' })).toThrow(/DELIVERY_LEASE_MS/);
    expect(loadConfig({ DELIVERY_LEASE_MS: '20000', DELIVERY_SEND_TIMEOUT_MS: '10000' }).delivery.leaseMs).toBe(20_000);
  });

  it('a bad value stops the worker before it starts: non-zero exit, one line naming each variable', async () => {
    const worker = spawnWorker('bad-env', { PORT: 'not-a-port', REDIS_URL: 'http://wrong-scheme', TRIAL_EXPIRATION_CRON: 'every hour' });
    const exit = await worker.waitForExit();
    expect(exit.code).not.toBe(0);
    const stderr = worker.stderr.join('');
    const lines = stderr.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config error: PORT: /),
        expect.stringMatching(/^config error: REDIS_URL: /),
        expect.stringMatching(/^config error: TRIAL_EXPIRATION_CRON: /),
      ]),
    );
    expect(lines).toHaveLength(3);
    expect(worker.logs.some((l) => l.message === 'crm-worker started')).toBe(false);
  });
});
