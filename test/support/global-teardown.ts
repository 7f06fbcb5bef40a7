import { Client } from 'pg';
import { createClient } from '@redis/client';
import fs from 'node:fs';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL } from './env';
import { PGLITE_TEMPLATE_ENV } from './pglite-template';

/** Whatever a crashed test file left behind under this run's names is removed here. */
export default async function globalTeardown(): Promise<void> {
  const template = process.env[PGLITE_TEMPLATE_ENV];
  if (template) fs.rmSync(template, { recursive: true, force: true });
  const run = process.env.CRMW_TEST_RUN;
  if (!run) return;
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`crmw_${run}_%`]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const redis = createClient({ url: TEST_REDIS_URL });
  await redis.connect();
  try {
    for await (const keys of redis.scanIterator({ MATCH: `crmw:${run}:*`, COUNT: 500 })) {
      if (keys.length > 0) await redis.del(keys);
    }
  } finally {
    await redis.quit();
  }
}
