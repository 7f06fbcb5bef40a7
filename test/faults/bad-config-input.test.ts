import fc from 'fast-check';
import { CronExpressionParser } from 'cron-parser';
import cron from 'node-cron';
import { ConfigError, loadConfig } from '../../src/config/config';
import { envSchema } from '../../src/config/schema';

const VARIABLES = Object.keys(envSchema.shape);
const CRON_VARIABLES = VARIABLES.filter((v) => v.endsWith('_CRON'));

/**
 * Bad input, generated: whatever the environment holds, loading the config either succeeds or
 * fails with a ConfigError whose every problem names a real variable — never another exception,
 * never a silently accepted nonsense value.
 */
/** Every string in the config, wherever a module keeps its schedules. */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

describe('bad environment values and cron expressions (generated)', () => {
  it('any value for any variable: a config, or a ConfigError naming the variable', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...VARIABLES), fc.oneof(fc.string(), fc.integer().map(String), fc.constant(''))), (env) => {
        try {
          const config = loadConfig(env);
          expect(Object.isFrozen(config)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          for (const problem of (err as ConfigError).problems) {
            expect(VARIABLES).toContain(problem.variable);
            expect(problem.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('cron expressions: accepted only if node-cron can run them, otherwise named', () => {
    const field = fc.oneof(
      fc.constant('*'),
      fc.integer({ min: -5, max: 99 }).map(String),
      fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 70 })).map(([a, b]) => `${a}-${b}`),
      fc.integer({ min: 0, max: 70 }).map((n) => `*/${n}`),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...CRON_VARIABLES), fc.array(field, { minLength: 1, maxLength: 8 }), (variable, fields) => {
        const expression = fields.join(' ');
        // An empty value means "not set": the default schedule applies (tested elsewhere).
        fc.pre(expression.trim() !== '');
        let config;
        try {
          config = loadConfig({ [variable]: expression });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).problems.map((p) => p.variable)).toContain(variable);
          return;
        }
        {
          // Accepted: then it has 5 or 6 fields and the runtime's own parser agrees.
          expect([5, 6]).toContain(expression.trim().split(/\s+/).length);
          expect(stringsIn(config)).toContain(expression.trim());
          const task = cron.createTask(expression.trim(), () => undefined);
          expect(task.getNextRuns(1)).toHaveLength(1);
          void task.destroy();
          // …and so does cron-parser, which computes the scheduler's fire times.
          expect(() => CronExpressionParser.parse(expression.trim()).next()).not.toThrow();
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a fixed corpus of classic mistakes is rejected with the variable named', () => {
    const corpus: Array<[string, string]> = [
      ['PORT', '3002.5'],
      ['PORT', '-1'],
      ['PORT', '70000'],
      ['LOCK_TTL_MS', '1e3x'],
      ['SHUTDOWN_TIMEOUT_MS', 'five seconds'],
      ['CRON_TIMEZONE', 'EST5EDT/Nowhere'],
      ['CRON_TIMEZONE', 'Europe/Londn'],
      ['CALL_CLEANUP_CRON', '* * * *'],
      ['CALL_CLEANUP_CRON', '60 * * * * *'],
      ['TRIAL_EXPIRATION_CRON', '0 0 32 * *'],
      ['REDIS_URL', 'localhost:6379'],
      ['REDIS_SENTINELS', '10.0.0.5'],
      ['REDIS_SENTINELS', '10.0.0.5:26379,10.0.0.5:26379'],
      ['REDIS_SENTINELS', 'redis://10.0.0.5:26379'],
      ['REDIS_SENTINELS', '10.0.0.5:99999'],
      ['REDIS_SENTINEL_MASTER', 'my master'],
      ['REDIS_PASSWORD', 'without-sentinels'],
      ['DATABASE_URL', 'postgres://a:5432,:5433/db'],
      ['DATABASE_URL', 'postgres://a,b/db?target_session_attrs=standby'],
      ['DATABASE_URL', 'postgres//missing-colon'],
      ['API_KEY', 'short'],
      ['JOBS_ENABLED', 'maybe'],
      ['LOG_LEVEL', 'verbose'],
    ];
    // Two ways to Redis at once is one mistake, named on REDIS_SENTINELS.
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379' })).toThrow(
      /REDIS_SENTINELS: set REDIS_URL or REDIS_SENTINELS, not both/,
    );
    for (const [variable, value] of corpus) {
      expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
      try {
        loadConfig({ [variable]: value });
      } catch (err) {
        expect({ value, variables: (err as ConfigError).problems.map((p) => p.variable) }).toEqual({ value, variables: [variable] });
      }
    }
  });
});
