import type { QdrantClient } from '@qdrant/js-client-rest';
import type { Database } from '../db/database';
import type { Logger } from '../logging/logger';
import { isMissingCollection } from './qdrant-errors';
import type { QdrantReadiness } from './qdrant-readiness';

/** A knowledge document row as the sync job and the copier read it. */
export interface PendingDocument {
  id: string;
  tenant_id: string | null;
  title: string;
  content: string;
  metadata: Record<string, unknown>;
  updated_at: Date;
  content_hash: string;
}

/** The payload of a knowledge point; content_hash says which version of the document it holds. */
export function pointPayload(doc: {
  id: string;
  tenant_id: string | null;
  title: string;
  content: string;
  metadata: Record<string, unknown>;
  updated_at: Date | string;
  content_hash: string;
}): Record<string, unknown> {
  return {
    document_id: doc.id,
    tenant_id: doc.tenant_id,
    title: doc.title,
    content: doc.content,
    metadata: doc.metadata,
    updated_at: new Date(doc.updated_at).toISOString(),
    content_hash: doc.content_hash,
  };
}

const SCROLL_PAGE = 1_000;

/**
 * Makes this replica's Qdrant hold what knowledge_vectors holds: points missing or of another
 * version (payload content_hash) are upserted from the stored embeddings, points without a sync
 * row are deleted. knowledge-sync embeds on one replica per tick; this is how the other
 * replicas' embedded Qdrants follow, without a second embeddings request. Reads the sync state,
 * never writes it. Rows without a stored vector (synced before migration 0061) are left to
 * knowledge-sync, which embeds them again.
 */
export async function copyStoredVectors(deps: {
  db: Database;
  client: QdrantClient;
  collection: string;
  batchSize: number;
  signal?: AbortSignal;
}): Promise<{ copied: number; removed: number }> {
  const { db, client, collection } = deps;
  const held = new Map<string, unknown>();
  let offset: string | number | undefined;
  for (;;) {
    deps.signal?.throwIfAborted();
    const page = await client.scroll(collection, {
      limit: SCROLL_PAGE,
      with_payload: ['content_hash'],
      with_vector: false,
      ...(offset === undefined ? {} : { offset }),
    });
    for (const p of page.points) held.set(String(p.id), p.payload?.content_hash);
    const next = page.next_page_offset;
    if (next === null || next === undefined || typeof next === 'object') break;
    offset = next;
  }
  const state = await db.query<{ point_id: string; content_hash: string; has_vector: boolean }>(
    'SELECT point_id::text AS point_id, content_hash, vector IS NOT NULL AS has_vector FROM knowledge_vectors',
  );
  const known = new Set(state.rows.map((r) => r.point_id));
  const toCopy = state.rows.filter((r) => r.has_vector && held.get(r.point_id) !== r.content_hash).map((r) => r.point_id);
  const toRemove = [...held.keys()].filter((id) => !known.has(id));

  let copied = 0;
  for (let i = 0; i < toCopy.length; i += deps.batchSize) {
    deps.signal?.throwIfAborted();
    const rows = await db.query<PendingDocument & { point_id: string; vector: number[] }>(
      `SELECT v.point_id::text AS point_id, to_json(v.vector) AS vector, v.content_hash,
              d.id, d.tenant_id, d.title, d.content, d.metadata, d.updated_at
         FROM knowledge_vectors v
         JOIN knowledge_documents d ON d.id = v.document_id
        WHERE v.point_id = ANY($1::uuid[]) AND v.vector IS NOT NULL`,
      [toCopy.slice(i, i + deps.batchSize)],
    );
    if (rows.rows.length === 0) continue;
    await client.upsert(collection, {
      wait: true,
      points: rows.rows.map((r) => ({ id: r.point_id, vector: r.vector, payload: pointPayload(r) })),
    });
    copied += rows.rows.length;
  }
  for (let i = 0; i < toRemove.length; i += deps.batchSize) {
    deps.signal?.throwIfAborted();
    await client.delete(collection, { wait: true, points: toRemove.slice(i, i + deps.batchSize) });
  }
  return { copied, removed: toRemove.length };
}

/**
 * Every intervalMs while Qdrant is ready, one copyStoredVectors pass through `serial` (the same
 * queue knowledge-sync's tick runs in, so a pass never sees a point the tick wrote to Qdrant but
 * has not yet recorded). A vanished collection is handed back to the readiness loop.
 */
export function startVectorCopier(deps: {
  intervalMs: number;
  readiness: QdrantReadiness;
  serial: <T>(work: () => Promise<T>) => Promise<T>;
  copy: (signal: AbortSignal) => Promise<{ copied: number; removed: number }>;
  logger: Logger;
}): { stop(): Promise<void> } {
  const abort = new AbortController();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      if (deps.readiness.isReady()) {
        try {
          const result = await deps.serial(() => deps.copy(abort.signal));
          if (result.copied + result.removed > 0) deps.logger.info('qdrant caught up with the stored vectors', result);
        } catch (err) {
          if (abort.signal.aborted) break;
          if (isMissingCollection(err)) deps.readiness.recheck();
          deps.logger.warn('copying stored vectors into qdrant failed; retrying', { error: (err as Error).message });
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deps.intervalMs);
        abort.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

/** A queue of one: each piece of work starts after the previous one settled. */
export function createSerial(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>) => {
    const result = tail.then(work, work);
    tail = result.catch(() => undefined);
    return result;
  };
}
