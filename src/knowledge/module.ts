import type { Config } from '../config/config';
import type { Database } from '../db/database';
import type { Probe } from '../health/health-monitor';
import type { Logger } from '../logging/logger';
import type { ModuleFactory, WorkerModule } from '../modules/worker-module';
import type { JobDefinition } from '../scheduler/job';
import type { Embedder } from './embedder';
import { createKnowledgeSyncJob } from './knowledge-sync-job';
import { qdrantProbe } from './qdrant-probe';
import { QdrantReadiness } from './qdrant-readiness';
import { createQdrantSnapshotJob } from './qdrant-snapshot-job';
import { copyStoredVectors, createSerial, startVectorCopier } from './vector-copy';

/** Why a knowledge job is not registered; undefined when it can run. */
export function knowledgeJobsDisabled(config: Config): { 'knowledge-sync'?: string; 'qdrant-snapshot'?: string } {
  const reasons: { 'knowledge-sync'?: string; 'qdrant-snapshot'?: string } = {};
  const missing = [!config.qdrant.url && 'QDRANT_URL', !config.openai.apiKey && 'OPENAI_API_KEY'].filter(Boolean);
  if (missing.length > 0) reasons['knowledge-sync'] = `no ${missing.join(' and no ')}`;
  if (!config.qdrant.url) reasons['qdrant-snapshot'] = 'no QDRANT_URL';
  return reasons;
}

/**
 * The knowledge capability: Qdrant (its /readyz probe, the collection) and the jobs that fill
 * and back up the collection.
 * Jobs whose services are not configured are not registered at all (an empty job reporting
 * success would lie); /health lists them under services as "disabled".
 * The Qdrant and openai client libraries are loaded only when QDRANT_URL (and a key) are set.
 */
export async function createKnowledgeModule(deps: {
  config: Config;
  logger: Logger;
  db: Database;
  /** Tests pass their own embedder; production builds the openai one from config. */
  embedder?: Embedder;
}): Promise<WorkerModule> {
  const { config } = deps;
  const k = config.knowledge;
  const logger = deps.logger.child({ module: 'knowledge' });
  const disabled = knowledgeJobsDisabled(config);
  // Qdrant first: the order /health has always listed these in.
  const fixed: Record<string, 'disabled'> = config.qdrant.url ? {} : { qdrant: 'disabled' };
  if (disabled['knowledge-sync']) fixed.knowledgeSync = 'disabled';
  if (disabled['qdrant-snapshot']) fixed.qdrantSnapshot = 'disabled';

  if (!config.qdrant.url) {
    return {
      name: 'knowledge',
      fixedStatuses: () => fixed,
      async start() {
        logger.info('knowledge jobs disabled', disabled);
      },
    };
  }

  const { QdrantClient } = await import('@qdrant/js-client-rest');
  const client = new QdrantClient({
    url: config.qdrant.url,
    ...(k.qdrantApiKey ? { apiKey: k.qdrantApiKey } : {}),
    timeout: k.qdrantTimeoutMs,
    // The worker starts before (or beside) Qdrant: the client's own version probe would only
    // print a console warning. Readiness is checked through /readyz below.
    checkCompatibility: false,
  });
  const readiness = new QdrantReadiness(client, {
    baseUrl: config.qdrant.url,
    apiKey: k.qdrantApiKey,
    collection: k.collection,
    dimensions: k.dimensions,
    maxBackoffMs: k.readyMaxBackoffMs,
    requestTimeoutMs: Math.min(k.qdrantTimeoutMs, 5_000),
    logger,
  });

  // Each replica's own Qdrant follows the stored embeddings; knowledge-sync runs on one replica.
  const serial = createSerial();
  const copyStored = (signal?: AbortSignal) =>
    copyStoredVectors({ db: deps.db, client, collection: k.collection, batchSize: k.syncBatchSize, ...(signal ? { signal } : {}) });
  let copier: { stop(): Promise<void> } | undefined;

  const jobs: JobDefinition[] = [];
  if (!disabled['knowledge-sync']) {
    const embedder =
      deps.embedder ??
      (await import('./embedder')).createOpenAiEmbedder({
        apiKey: config.openai.apiKey!,
        baseUrl: config.openai.baseUrl,
        model: k.embeddingModel,
        dimensions: k.dimensions,
        timeoutMs: Math.max(config.openai.timeoutMs, 30_000),
      });
    jobs.push(
      createKnowledgeSyncJob({
        schedule: k.syncSchedule,
        client,
        readiness,
        embedder,
        collection: k.collection,
        batchSize: k.syncBatchSize,
        serial,
        copyStored,
      }),
    );
  }
  jobs.push(createQdrantSnapshotJob({ schedule: k.snapshotSchedule, client, readiness, collection: k.collection, keep: k.snapshotKeep }));

  const readyzProbe = qdrantProbe(config.qdrant.url);
  const collectionProbe: Probe = {
    service: 'knowledgeCollection',
    required: false,
    okStatus: 'healthy',
    failStatus: 'unhealthy',
    async check() {
      if (!readiness.isReady()) throw new Error(`collection ${k.collection}: ${readiness.state()} ${readiness.problem() ?? ''}`.trim());
    },
  };

  return {
    name: 'knowledge',
    jobs: () => jobs,
    probes: () => [readyzProbe, collectionProbe],
    fixedStatuses: () => fixed,
    async start() {
      if (disabled['knowledge-sync']) logger.info('knowledge-sync disabled', { reason: disabled['knowledge-sync'] });
      // Not awaited: the crons start now; only the vector jobs wait for Qdrant.
      readiness.start();
      copier = startVectorCopier({ intervalMs: k.copyIntervalMs, readiness, serial, copy: copyStored, logger });
    },
    async stop() {
      await copier?.stop();
      await readiness.stop();
    },
  };
}

export const knowledgeModule: ModuleFactory = ({ config, logger, db }) => createKnowledgeModule({ config, logger, db });
