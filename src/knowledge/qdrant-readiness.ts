import type { QdrantClient } from '@qdrant/js-client-rest';
import type { Logger } from '../logging/logger';
import { monotonicMs, withDeadlineSignal } from '../util/deadline';

/** How long a vector job's tick waits for Qdrant before it fails (it never reports success without it). */
export const READY_WAIT_MS = 3_000;

export type ReadinessState = 'waiting' | 'ready' | 'misconfigured' | 'stopped';

export interface ReadinessOptions {
  baseUrl: string;
  apiKey: string | undefined;
  collection: string;
  dimensions: number;
  /** Cap of the exponential backoff between /readyz attempts. */
  maxBackoffMs: number;
  requestTimeoutMs: number;
  logger: Logger;
}

/**
 * Waits in the background for Qdrant's /readyz (Qdrant starts beside the worker under
 * supervisord and may load its storage for a while), then ensures the knowledge collection.
 * Backoff doubles from 250 ms up to maxBackoffMs and keeps trying at that pace: the crons never
 * wait for this; only the vector jobs check isReady() and fail their tick while it is false.
 */
export class QdrantReadiness {
  private current: ReadinessState = 'waiting';
  private lastError: string | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: QdrantClient,
    private readonly options: ReadinessOptions,
  ) {}

  state(): ReadinessState {
    return this.current;
  }

  problem(): string | undefined {
    return this.lastError;
  }

  isReady(): boolean {
    return this.current === 'ready';
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * For a vector job's tick: starts the loop if nobody did (the operator CLI runs a job without
   * starting modules) and waits at most limitMs for readiness. True when ready.
   */
  async waitUntilReady(limitMs: number, signal: AbortSignal): Promise<boolean> {
    this.start();
    const deadline = monotonicMs() + limitMs;
    while (!this.isReady() && this.current === 'waiting' && monotonicMs() < deadline && !signal.aborted) {
      await sleep(Math.min(100, Math.max(0, deadline - monotonicMs())), signal);
    }
    return this.isReady();
  }

  /** Marks the collection as needing a check again (e.g. Qdrant lost it after a restart). */
  recheck(): void {
    if (this.current === 'ready' || this.current === 'misconfigured') {
      this.current = 'waiting';
      this.loop = this.run();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.current = 'stopped';
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const log = this.options.logger;
    let delay = 250;
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        await this.checkReadyz();
        await this.ensureCollection();
        this.current = 'ready';
        this.lastError = undefined;
        log.info('qdrant ready; knowledge collection ensured', { collection: this.options.collection, attempts: attempt });
        return;
      } catch (err) {
        this.lastError = (err as Error).message;
        if (err instanceof CollectionMismatchError) {
          // Retrying cannot fix a collection made with other dimensions: say so and stop.
          this.current = 'misconfigured';
          log.error('knowledge collection does not match the embedding settings', { error: this.lastError });
          return;
        }
        const level = attempt === 1 || attempt % 10 === 0 ? 'warn' : 'debug';
        log.log(level, 'qdrant not ready yet; retrying', { attempt, retryInMs: delay, error: this.lastError });
        await sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, this.options.maxBackoffMs);
      }
    }
  }

  private async checkReadyz(): Promise<void> {
    const headers: Record<string, string> = this.options.apiKey ? { 'api-key': this.options.apiKey } : {};
    await withDeadlineSignal(this.options.requestTimeoutMs, 'qdrant /readyz', [this.abort.signal], async (signal) => {
      const response = await fetch(new URL('/readyz', this.options.baseUrl), { headers, signal });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`qdrant /readyz answered ${response.status}`);
    });
  }

  private async ensureCollection(): Promise<void> {
    const { collection, dimensions } = this.options;
    const { exists } = await this.client.collectionExists(collection);
    if (!exists) {
      try {
        await this.client.createCollection(collection, { vectors: { size: dimensions, distance: 'Cosine' } });
        this.options.logger.info('knowledge collection created', { collection, dimensions, distance: 'Cosine' });
      } catch (err) {
        // Another replica may have created it between the check and the create: verify below.
        const again = await this.client.collectionExists(collection);
        if (!again.exists) throw err;
      }
    }
    const info = await this.client.getCollection(collection);
    const vectors = info.config?.params?.vectors as { size?: number; distance?: string } | undefined;
    if (vectors && typeof vectors.size === 'number' && (vectors.size !== dimensions || vectors.distance !== 'Cosine')) {
      throw new CollectionMismatchError(
        `collection ${collection} has ${vectors.size} dimensions (${vectors.distance}); EMBEDDING_DIMENSIONS is ${dimensions} (Cosine)`,
      );
    }
  }
}

class CollectionMismatchError extends Error {}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
