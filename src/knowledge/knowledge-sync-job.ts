import type { QdrantClient } from '@qdrant/js-client-rest';
import type { JobContext, JobDefinition, JobResult } from '../scheduler/job';
import type { Embedder } from './embedder';
import { pointIdFor } from './point-id';
import { isMissingCollection } from './qdrant-errors';
import { READY_WAIT_MS, type QdrantReadiness } from './qdrant-readiness';
import { pointPayload, type PendingDocument } from './vector-copy';

// The text that is embedded, and whose hash decides whether a document changed.
const TEXT = `concat_ws(E'\\n\\n', NULLIF(d.title, ''), d.content)`;
const HASH = `md5(${TEXT} || E'\\n' || d.metadata::text)`;

/**
 * knowledge-sync (lock:knowledge-sync): embeds knowledge documents that are new or changed since
 * their last sync and upserts them into Qdrant under stable point ids; removes the points of
 * documents deleted (or soft-deleted) since. Qdrant is written first and the sync state (with
 * the embedding) after: if the lease is lost in between, the fenced write is refused and the
 * next tick redoes the batch, which is harmless because the point ids are stable.
 * The tick runs on one replica; the others' Qdrants copy the stored embeddings (vector-copy.ts).
 * `serial` keeps this replica's copier from running in the middle of a tick.
 */
export function createKnowledgeSyncJob(deps: {
  schedule: string;
  client: QdrantClient;
  readiness: QdrantReadiness;
  embedder: Embedder;
  collection: string;
  batchSize: number;
  serial: <T>(work: () => Promise<T>) => Promise<T>;
  /** copyStoredVectors for this replica's Qdrant. */
  copyStored: (signal: AbortSignal) => Promise<{ copied: number; removed: number }>;
}): JobDefinition {
  return {
    name: 'knowledge-sync',
    healthKey: 'knowledgeSync',
    schedule: deps.schedule,
    description: `Embeds new and changed knowledge documents into Qdrant collection ${deps.collection}`,
    run: (ctx) => deps.serial(() => runTick(ctx)),
  };

  async function runTick({ db, logger, signal }: JobContext): Promise<JobResult> {
    if (!(await deps.readiness.waitUntilReady(READY_WAIT_MS, signal))) {
      throw new Error(`qdrant not ready (${deps.readiness.state()}): ${deps.readiness.problem() ?? 'waiting for /readyz'}`);
    }
    // The sync state describes the stored embeddings; this replica's Qdrant may hold fewer (a
    // collection dropped, restored from an older snapshot, or a replica's own new Qdrant): copy
    // them back from the database first, so only what changed is embedded.
    let points: number;
    let copied = 0;
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
      logger.warn('qdrant holds fewer points than the sync state; copying the stored embeddings', { points, synced });
      copied = (await deps.copyStored(signal)).copied;
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
              AND (v.document_id IS NULL OR v.content_hash <> ${HASH} OR v.model <> $1 OR v.vector IS NULL)
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
          payload: pointPayload(d),
        })),
      });
      await db.query(
        // Each vector as an array literal: unnest would flatten an array of arrays.
        `INSERT INTO knowledge_vectors (document_id, point_id, content_hash, model, synced_at, vector)
           SELECT doc_id, point_id::uuid, hash, $4, now(), vec::real[]
             FROM unnest($1::text[], $2::text[], $3::text[], $5::text[]) AS t(doc_id, point_id, hash, vec)
           ON CONFLICT (document_id) DO UPDATE
              SET content_hash = EXCLUDED.content_hash, model = EXCLUDED.model, synced_at = EXCLUDED.synced_at,
                  vector = EXCLUDED.vector`,
        [
          pending.rows.map((d) => d.id),
          pending.rows.map((d) => pointIdFor(d.id)),
          pending.rows.map((d) => d.content_hash),
          deps.embedder.model,
          vectors.map((v) => `{${Array.from(v).join(',')}}`),
        ],
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
    if (copied + embedded + removed > 0) logger.info('knowledge synced', { copied, embedded, removed, collection: deps.collection });
    return { items: copied + embedded + removed };
  }
}
