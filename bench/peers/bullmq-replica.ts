/**
 * One replica of a BullMQ app whose cron is a job scheduler (BullMQ 5 upsertJobScheduler, every
 * second). Every replica upserts the same scheduler (idempotent) and runs a Worker. Each
 * processed job is recorded as "<scheduled ms>|<replica>".
 */
import { Queue, Worker } from 'bullmq';
import { createClient } from '@redis/client';

async function main(): Promise<void> {
  const [, replica, runsKey, redisUrl] = process.argv.slice(2) as [string, string, string, string];
  const url = new URL(redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  const queueName = runsKey.replace(/[^a-zA-Z0-9]/g, '_');
  const recorder = createClient({ url: redisUrl });
  await recorder.connect();
  const queue = new Queue(queueName, { connection });
  await queue.upsertJobScheduler('bench-tick', { pattern: '* * * * * *' }, { name: 'tick' });
  const worker = new Worker(
    queueName,
    async (job) => {
      // Scheduler jobs are named repeat:<scheduler>:<scheduled ms>; that is the fire time.
      const scheduled = Number(String(job.id).split(':').pop());
      const fireMs = Number.isFinite(scheduled) ? scheduled : job.timestamp + (job.opts.delay ?? 0);
      await recorder.rPush(runsKey, `${Math.round(fireMs / 1000) * 1000}|${replica}|${job.id}|${Date.now()}`);
    },
    { connection, concurrency: 1 },
  );
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    void Promise.allSettled([worker.close(), queue.close(), recorder.quit()]).finally(() => process.exit(0));
  });
}

void main();
