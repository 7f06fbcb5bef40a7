/**
 * One replica of a plain node-cron app in its distributed mode (node-cron 4). Modes:
 * - env: the documented default, NODE_CRON_RUN=true on one replica and false on the others;
 * - redis-release: a Redis lock per fire (SET key NX PX ttl) released in onComplete, as the
 *   RunCoordinator contract describes ("called after the run completes; e.g. release a lock");
 * - redis-keep: the same lock left to expire by its TTL (the better setting).
 * Each run is recorded in a Redis list as "<slot ms>|<replica>".
 */
import cron from 'node-cron';
import { createClient } from '@redis/client';

async function main(): Promise<void> {
  const [mode, replica, runsKey, redisUrl] = process.argv.slice(2) as [string, string, string, string];
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  if (mode !== 'env') {
    cron.setRunCoordinator({
      async shouldRun(key, ttlMs) {
        return (await redis.set(`${runsKey}:lock:${key}`, replica, { NX: true, PX: ttlMs })) === 'OK';
      },
      ...(mode === 'redis-release' ? { onComplete: async (key: string) => void (await redis.del(`${runsKey}:lock:${key}`)) } : {}),
    });
  }
  const task = cron.schedule(
    '* * * * * *',
    async (ctx) => {
      await redis.rPush(runsKey, `${ctx.date.getTime()}|${replica}|${ctx.execution?.id ?? ''}|${Date.now()}`);
    },
    { name: 'bench-tick', distributed: true, distributedLease: 30_000 },
  );
  // node-cron drops a fire time its timer reached too late (missedExecutionTolerance); count them.
  task.on('execution:missed', (ctx) => {
    void redis.rPush(`${runsKey}:missed`, `${ctx.date.getTime()}|${replica}`);
  });
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    void cron.shutdown().finally(() => redis.quit().finally(() => process.exit(0)));
  });
}

void main();
