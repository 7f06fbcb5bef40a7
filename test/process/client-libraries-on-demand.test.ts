import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { killAll, REPO_ROOT, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { waitFor } from '../support/wait';
import { freshPgliteDir } from '../support/pglite-template';

// A worker loads a client library only for what it is configured to use: twilio, openai, the
// Qdrant client, nodemailer, redis and pg each cost start time and resident memory (twilio alone
// about 0.2 s and several MB of heap here), and a worker that never sends SMS should pay none of it.
const PRELOAD = path.join(REPO_ROOT, 'test', 'support', 'loaded-packages-preload.js');
// The OpenTelemetry SDK and exporter and Sentry too: loaded only with OTEL_EXPORTER_OTLP_ENDPOINT or
// SENTRY_DSN. (@opentelemetry/api, the SDK's small interface package, is left out: prom-client
// requires it whenever it is installed, for its exemplars.)
const CLIENTS = [
  '@electric-sql/pglite',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/sdk-trace-base',
  '@qdrant/js-client-rest',
  '@sentry/core',
  '@sentry/node-core',
  'nodemailer',
  'openai',
  'pg',
  '@redis/client',
  'twilio',
];

async function clientsLoadedBy(name: string, env: Record<string, string>, workers: WorkerProcess[]): Promise<string[]> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-loaded-')), 'packages.json');
  const worker = spawnWorker(name, { ...env, NODE_OPTIONS: `--require ${PRELOAD}`, LOADED_PACKAGES_FILE: file });
  workers.push(worker);
  await waitUntilStarted(worker, 120_000);
  worker.child.kill('SIGUSR2');
  const packages = await waitFor('the loaded packages list', () => (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as string[]) : undefined));
  worker.kill('SIGTERM');
  await worker.waitForExit(60_000);
  return packages.filter((p) => CLIENTS.includes(p));
}

describe('client libraries are loaded only when configured', () => {
  const workers: WorkerProcess[] = [];
  let db: TestDatabase;
  const keys = createKeyPrefix();
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = freshPgliteDir('crmw-embedded-');
  });
  afterAll(async () => {
    await killAll(workers);
    await keys.removeKeys();
    await db.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('with nothing configured: only the embedded database', async () => {
    expect(await clientsLoadedBy('bare', { PGLITE_DATA_DIR: dataDir }, workers)).toEqual(['@electric-sql/pglite']);
  });

  it('with PostgreSQL, Redis and SMTP: pg, @redis/client and nodemailer, and still no twilio, openai or Qdrant client', async () => {
    const loaded = await clientsLoadedBy(
      'configured',
      {
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: keys.prefix,
        SMTP_URL: 'smtp://127.0.0.1:1',
        EMAIL_FROM: 'crm@crm.example',
      },
      workers,
    );
    expect(loaded).toEqual(['@redis/client', 'nodemailer', 'pg']);
  });

  it('with Twilio and OpenAI keys: their clients too', async () => {
    const loaded = await clientsLoadedBy(
      'providers',
      {
        DATABASE_URL: db.url,
        TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
        TWILIO_AUTH_TOKEN: 'token',
        TWILIO_SMS_FROM: '+15005550006',
        OPENAI_API_KEY: 'sk-test-key',
        OPENAI_BASE_URL: 'http://127.0.0.1:1/v1',
      },
      workers,
    );
    expect(loaded).toEqual(['openai', 'pg', 'twilio']);
  });

  it('with an OTLP endpoint and a Sentry DSN: OpenTelemetry and Sentry', async () => {
    const loaded = await clientsLoadedBy(
      'observed',
      { DATABASE_URL: db.url, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', SENTRY_DSN: 'http://publickey@127.0.0.1:1/1' },
      workers,
    );
    expect(loaded).toEqual(['@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/sdk-trace-base', '@sentry/core', '@sentry/node-core', 'pg']);
  });
});
