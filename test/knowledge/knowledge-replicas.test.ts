import { QdrantClient } from '@qdrant/js-client-rest';
import { loadConfig } from '../../src/config/config';
import { pointIdFor } from '../../src/knowledge/point-id';
import { startWorker, type RunningWorker } from '../../src/worker';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai';
import { startRealQdrant, type RealQdrant } from '../support/real-qdrant';
import { quietLogger } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { waitFor } from '../support/wait';
import { NEVER } from '../support/job-env';
import { reserveConnectionsForFile } from '../support/connection-budget';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(19);

/**
 * Several replicas, each with its own embedded Qdrant (the container's supervisord runs one per
 * container), one PostgreSQL and one Redis. knowledge-sync runs on one replica per tick; the
 * other replica's Qdrant must hold the same points soon after, without a second embeddings
 * request. Two real Qdrant servers (test/support/real-qdrant.ts); OpenAI is the local fake.
 */
describe('knowledge with two replicas, each with its own Qdrant', () => {
  let database: TestDatabase;
  const keys = createKeyPrefix();
  let openai: FakeOpenAI;
  const qdrants: RealQdrant[] = [];
  const workers: RunningWorker[] = [];
  const collection = `crmw_replicas_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;

  const startReplica = async (name: string, qdrant: RealQdrant) => {
    const config = loadConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      PORT: '0',
      INSTANCE_ID: name,
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: collection,
      OPENAI_API_KEY: openai.apiKey,
      OPENAI_BASE_URL: openai.baseUrl,
      // The test fires knowledge-sync itself, on the replica it chooses.
      KNOWLEDGE_SYNC_CRON: NEVER,
      QDRANT_SNAPSHOT_CRON: NEVER,
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
      KNOWLEDGE_COPY_INTERVAL_MS: '200',
      QDRANT_READY_MAX_BACKOFF_MS: '400',
      HEALTH_PROBE_INTERVAL_MS: '200',
    });
    const worker = await startWorker(config, { logger: quietLogger });
    workers.push(worker);
    await waitFor(`${name}: collection ready`, async () => {
      const body = (await (await fetch(`http://127.0.0.1:${worker.port}/health`)).json()) as any;
      return body.services.knowledgeCollection === 'healthy';
    });
    return worker;
  };
  /** document id -> [content, vector] of every point a Qdrant holds. */
  const pointsOf = async (qdrant: RealQdrant) => {
    const client = new QdrantClient({ url: qdrant.url, checkCompatibility: false });
    const page = await client.scroll(collection, { limit: 100, with_payload: true, with_vector: true });
    return Object.fromEntries(
      page.points.map((p) => [(p.payload as any).document_id as string, [(p.payload as any).content as string, p.vector as number[]] as const]),
    );
  };
  const sameAs = async (a: RealQdrant, b: RealQdrant, documents: string[]) => {
    const [pa, pb] = [await pointsOf(a), await pointsOf(b)];
    return Object.keys(pb).sort().join() === documents.join() && JSON.stringify(pa) === JSON.stringify(pb);
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    openai = await startFakeOpenAI();
    qdrants.push(await startRealQdrant(), await startRealQdrant());
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    for (const q of qdrants) await q.close();
    await openai?.close();
    await database?.drop();
    await keys.removeKeys();
  });

  test('a tick on either replica reaches the other replica’s Qdrant: new, changed and deleted documents, and a wiped collection refilled, embedded once', async () => {
    const [qa, qb] = qdrants as [RealQdrant, RealQdrant];
    const a = await startReplica('replica-a', qa);
    const b = await startReplica('replica-b', qb);
    const { Client } = await import('pg');
    const pg = new Client({ connectionString: database.url });
    await pg.connect();
    try {
      await pg.query(`INSERT INTO knowledge_documents (id, tenant_id, title, content) VALUES
        ('doc-a', 't1', 'Pricing', 'Plans start at 10 per seat.'),
        ('doc-b', 't1', '', 'Support hours are 9 to 5.'),
        ('doc-c', 't2', 'Refunds', 'Refunds within 30 days.')`);
      expect(await a.scheduler.runNow('knowledge-sync')).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
      const embedded = openai.embeddingRequests.length;
      expect(Object.keys(await pointsOf(qa)).sort()).toEqual(['doc-a', 'doc-b', 'doc-c']);
      await waitFor("replica B's Qdrant holds A's three points, vectors and payloads alike", () => sameAs(qa, qb, ['doc-a', 'doc-b', 'doc-c']));

      // Now B wins the tick: a change and two deletions reach A's Qdrant.
      await pg.query(`UPDATE knowledge_documents SET content = 'Support hours are 8 to 8.', updated_at = now() WHERE id = 'doc-b'`);
      await pg.query(`DELETE FROM knowledge_documents WHERE id = 'doc-a'`);
      await pg.query(`UPDATE knowledge_documents SET deleted_at = now() WHERE id = 'doc-c'`);
      expect(await b.scheduler.runNow('knowledge-sync')).toEqual(expect.objectContaining({ ran: true, outcome: 'succeeded', items: 3 }));
      expect(openai.embeddingRequests.length).toBe(embedded + 1);
      await waitFor("replica A's Qdrant follows B: doc-b changed, doc-a and doc-c gone", () => sameAs(qb, qa, ['doc-b']));
      expect((await pointsOf(qa))['doc-b']![0]).toBe('Support hours are 8 to 8.');

      // A's collection is wiped: A re-creates it and copies the stored embedding back; no new request.
      const requests = openai.embeddingRequests.length;
      await new QdrantClient({ url: qa.url, checkCompatibility: false }).deleteCollection(collection);
      await waitFor("replica A's wiped Qdrant refilled from the stored embeddings", () => sameAs(qb, qa, ['doc-b']));
      expect(openai.embeddingRequests.length).toBe(requests);
      const ids = await pg.query('SELECT point_id::text AS id FROM knowledge_vectors');
      expect(ids.rows).toEqual([{ id: pointIdFor('doc-b') }]);
    } finally {
      await pg.end();
    }
  });
});
