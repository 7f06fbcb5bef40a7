import type { QdrantClient } from '@qdrant/js-client-rest';
import type { JobDefinition } from '../scheduler/job';
import { isMissingCollection } from './qdrant-errors';
import { READY_WAIT_MS, type QdrantReadiness } from './qdrant-readiness';

/**
 * qdrant-snapshot (lock:qdrant-snapshot, daily): creates a snapshot of the knowledge collection
 * and deletes the oldest ones beyond `keep`. Only snapshots of this collection are touched.
 */
export function createQdrantSnapshotJob(deps: {
  schedule: string;
  client: QdrantClient;
  readiness: QdrantReadiness;
  collection: string;
  keep: number;
}): JobDefinition {
  return {
    name: 'qdrant-snapshot',
    healthKey: 'qdrantSnapshot',
    schedule: deps.schedule,
    description: `Snapshots Qdrant collection ${deps.collection}, keeping the last ${deps.keep}`,
    async run({ logger, signal }) {
      if (!(await deps.readiness.waitUntilReady(READY_WAIT_MS, signal))) {
        throw new Error(`qdrant not ready (${deps.readiness.state()}): ${deps.readiness.problem() ?? 'waiting for /readyz'}`);
      }
      const created = await deps.client.createSnapshot(deps.collection, { wait: true }).catch((err: unknown) => {
        if (isMissingCollection(err)) deps.readiness.recheck();
        throw err;
      });
      if (!created) throw new Error('qdrant accepted the snapshot request but returned no snapshot');
      signal.throwIfAborted();
      const all = await deps.client.listSnapshots(deps.collection);
      // Newest first; creation_time is ISO-like without zone in Qdrant's answers, which sorts as text.
      const sorted = [...all].sort((a, b) => String(b.creation_time ?? '').localeCompare(String(a.creation_time ?? '')) || b.name.localeCompare(a.name));
      const stale = sorted.slice(deps.keep).filter((s) => s.name !== created.name);
      for (const snapshot of stale) {
        signal.throwIfAborted();
        await deps.client.deleteSnapshot(deps.collection, snapshot.name, { wait: true });
      }
      logger.info('qdrant snapshot created', { snapshot: created.name, deleted: stale.map((s) => s.name), kept: sorted.length - stale.length });
      return { items: 1 + stale.length };
    },
  };
}
