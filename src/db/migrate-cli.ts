import { ConfigError, loadConfig, secretValuesOf } from '../config/config';
import { createLogger } from '../logging/logger';
import { migrate } from './migrate';
import { createPgDatabase } from './pg-database';
import { createPgliteDatabase } from './pglite-database';

/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits. */
async function run(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, instanceId: config.instanceId, secrets: secretValuesOf(config) });
  const db = config.database.url
    ? createPgDatabase({
        url: config.database.url,
        schema: config.database.schema,
        poolMax: 1,
        queryTimeoutMs: config.database.queryTimeoutMs,
        applicationName: 'crm-worker migrate',
        logger,
      })
    : await createPgliteDatabase(config.database.pgliteDataDir, { schema: config.database.schema });
  try {
    const applied = await migrate(db, logger);
    logger.info(applied.length ? 'migrations applied' : 'database already up to date', { applied });
  } finally {
    await db.close();
  }
}

run().catch((err) => {
  if (err instanceof ConfigError) {
    for (const p of err.problems) process.stderr.write(`config error: ${p.variable}: ${p.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
});
