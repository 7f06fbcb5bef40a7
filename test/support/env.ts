/**
 * Where the shared test services are. CI has PostgreSQL 15 and Redis 7 on loopback; each test
 * run gets its own databases (crmw_<run>_<n>) and Redis key prefix (crmw:<run>:<n>:), and
 * removes them at the end.
 */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function runId(): string {
  const id = process.env.CRMW_TEST_RUN;
  if (!id) throw new Error('CRMW_TEST_RUN is not set: run the tests through jest (global setup sets it)');
  return id;
}
