import type { QdrantClient } from '@qdrant/js-client-rest';
import type { JobDefinition } from '../scheduler/job';
import type { Embedder } from './embedder';
import { pointIdFor } from './point-id';
import { isMissingCollection } from './qdrant-errors';
import { READY_WAIT_MS, type QdrantReadiness } from './qdrant-readiness';

interface PendingDocument {
  id: string;
  tenant_id: string | null;
  title: string;
  content: string;
  metadata: Record<string, unknown>;
  updated_at: Date;
  content_hash: string;
}

// The text that is embedded, and whose hash decides whether a document changed.
const TEXT = `concat_ws(E'\\n\\n', NULLIF(d.title, ''), d.content)`;
const HASH = `md5(${TEXT} || E'\\n' || d.metadata::text)`;

/**
 * knowledge-sync (lock:knowledge-sync): embeds knowledge documents that are new or changed since
 * their last sync and upserts them into Qdrant under stable point ids; removes the points of
 * documents deleted (or soft-deleted) since. Qdrant is written first and the sync state after:
 * if the lease is lost in between, the fenced write is refused and the next tick redoes the
 * batch, which is harmless because the point ids are stable.
 */
export function createKnowledgeSyncJob(deps: {
  schedule: string;
  client: QdrantClient;
  readiness: QdrantReadiness;
  embedder: Embedder;
  collection: string;
  batchSize: number;
}): JobDefinition {
  return {
    name: 'knowledge-sync',
    healthKey: 'knowledgeSync',
    schedule: deps.schedule,
    description: `Embeds new and changed knowledge documents into Qdrant collection ${deps.collection}`,
    async run({ db, logger, signal }) {
      if (!(await deps.readiness.waitUntilReady(READY_WAIT_MS, signal))) {
        throw new Error(`qdrant not ready (${deps.readiness.state()}): ${deps.readiness.problem() ?? 'waiting for /readyz'}`);
      }
      // The sync state in Postgres is only true while Qdrant still has those points: a collection
      // that was dropped or restored from an older snapshot holds fewer. Then resync everything.
      let points: number;
      try {
        points = (await deps.client.count(deps.collection, { exact: true })).count;
      } catch (err) {
        if (isMissingCollection(err)) {
          deps.readiness.recheck();
          throw new Error(`collection ${deps.collection} is gone; re-creating it, the next tick re-embeds every document`);
        }
        throw err;
      }
      const synced = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM knowledge_vectors')).rows[0]?.n ?? 0);
      if (points < synced) {
        logger.warn('qdrant holds fewer points than the sync state; re-embedding every document', { points, synced });
        await db.query('DELETE FROM knowledge_vectors');
      }
      let embedded = 0;
      let removed = 0;
      for (;;) {
        signal.throwIfAborted();
        const pending = await db.query<PendingDocument>(
          `SELECT d.id, d.tenant_id, d.title, d.content, d.metadata, d.updated_at, ${HASH} AS content_hash
             FROM knowledge_documents d
             LEFT JOIN knowledge_vectors v ON v.document_id = d.id
            WHERE d.deleted_at IS NULL
              AND (v.document_id IS NULL OR v.content_hash <> ${HASH} OR v.model <> $1)
            ORDER BY d.id
            LIMIT $2`,
          [deps.embedder.model, deps.batchSize],
        );
        if (pending.rows.length === 0) break;
        const texts = pending.rows.map((d) => (d.title ? `${d.title}\n\n${d.content}` : d.content));
        const vectors = await deps.embedder.embed(texts, signal);
        signal.throwIfAborted();
        await deps.client.upsert(deps.collection, {
          wait: true,
          points: pending.rows.map((d, i) => ({
            id: pointIdFor(d.id),
            vector: vectors[i]!,
            payload: {
              document_id: d.id,
              tenant_id: d.tenant_id,
              title: d.title,
              content: d.content,
              metadata: d.metadata,
              updated_at: new Date(d.updated_at).toISOString(),
            },
          })),
        });
        await db.query(
          `INSERT INTO knowledge_vectors (document_id, point_id, content_hash, model, synced_at)
           SELECT doc_id, point_id::uuid, hash, $4, now()
             FROM unnest($1::text[], $2::text[], $3::text[]) AS t(doc_id, point_id, hash)
           ON CONFLICT (document_id) DO UPDATE
              SET content_hash = EXCLUDED.content_hash, model = EXCLUDED.model, synced_at = EXCLUDED.synced_at`,
          [pending.rows.map((d) => d.id), pending.rows.map((d) => pointIdFor(d.id)), pending.rows.map((d) => d.content_hash), deps.embedder.model],
        );
        embedded += pending.rows.length;
        if (pending.rows.length < deps.batchSize) break;
      }
      for (;;) {
        signal.throwIfAborted();
        const gone = await db.query<{ document_id: string; point_id: string }>(
          `SELECT v.document_id, v.point_id::text AS point_id
             FROM knowledge_vectors v
             LEFT JOIN knowledge_documents d ON d.id = v.document_id
            WHERE d.id IS NULL OR d.deleted_at IS NOT NULL
            ORDER BY v.document_id
            LIMIT $1`,
          [deps.batchSize],
        );
        if (gone.rows.length === 0) break;
        await deps.client.delete(deps.collection, { wait: true, points: gone.rows.map((r) => r.point_id) });
        await db.query(`DELETE FROM knowledge_vectors WHERE document_id = ANY($1::text[])`, [gone.rows.map((r) => r.document_id)]);
        removed += gone.rows.length;
        if (gone.rows.length < deps.batchSize) break;
      }
      if (embedded + removed > 0) logger.info('knowledge synced', { embedded, removed, collection: deps.collection });
      return { items: embedded + removed };
    },
  };
}
