import { DEFAULT_SCHEMA } from '../../src/db/schema';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { createClient, type RedisClientType } from '@redis/client';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, runId } from './env';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the shared server for one test file (or one test). */
export async function createTestDatabase(options: { plain?: boolean } = {}): Promise<TestDatabase> {
  const name = `crmw_${runId()}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    // The tests' own clients read crm-worker's tables unqualified. The worker never relies on
    // this: it sets its search_path on every connection (a `plain` database shows it does).
    if (!options.plain) await admin.query(`ALTER DATABASE "${name}" SET search_path = ${DEFAULT_SCHEMA}, public`);
    // Which test file owns it, for the connection sampler (scripts/pg-connections-by-file.sh).
    const file = currentTestFile();
    if (file) await admin.query(`COMMENT ON DATABASE "${name}" IS ${quoteLiteral(file)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new Client({ connectionString: ADMIN_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The running jest test file, relative to the project; undefined outside jest (the benches). */
function currentTestFile(): string | undefined {
  const state = (globalThis as { expect?: { getState?: () => { testPath?: string } } }).expect?.getState?.();
  return state?.testPath ? path.relative(path.join(__dirname, '..', '..'), state.testPath) : undefined;
}

const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** A Redis key prefix private to one test; removeKeys() deletes what it left. */
export function createKeyPrefix(): { prefix: string; removeKeys(): Promise<void> } {
  const prefix = `crmw:${runId()}:${randomBytes(4).toString('hex')}:`;
  return {
    prefix,
    async removeKeys() {
      const redis = createClient({ url: TEST_REDIS_URL });
      await redis.connect();
      try {
        for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
          if (keys.length > 0) await redis.del(keys);
        }
      } finally {
        await redis.quit();
      }
    },
  };
}

export async function withRedis<T>(fn: (redis: RedisClientType) => Promise<T>): Promise<T> {
  const redis = createClient({ url: TEST_REDIS_URL });
  await redis.connect();
  try {
    return await fn(redis);
  } finally {
    await redis.quit();
  }
}

export { TEST_REDIS_URL };
