import type { Queryable } from '../db/database';
import type { Logger } from '../logging/logger';
import { sleep, withDeadline } from '../util/deadline';
import type { DeliveryMetrics } from './delivery-metrics';

/**
 * Backoff after failed passes against a database that answers (a locked table, a read-only
 * server): a few seconds, so a fault that clears is noticed soon. While the database does not
 * answer at all the loop does not back off by this but probes every PROBE_EVERY_MS.
 */
const MAX_ERROR_BACKOFF_MS = 5_000;
const PROBE_EVERY_MS = 250;
const PROBE_DEADLINE_MS = 1_000;

/**
 * The dispatcher's wait after a failed pass. Wake-ups (a send finishing, a
 * NOTIFY) do not end it: they used to, and each following failed pass doubled the backoff, which
 * reached 30 s within 100 ms of an outage while sends finished, so delivery resumed 11–28 s after
 * the database was back. One failed pass counts once. A cheap probe tells an outage from a
 * failing statement: while the database does not answer it is probed every PROBE_EVERY_MS and
 * the wait ends at the first answer; the exponential backoff (capped at MAX_ERROR_BACKOFF_MS)
 * only spaces passes that fail against a database that answers. Only `stop` cuts a wait short.
 */
export class DatabaseBackoff {
  private consecutiveErrors = 0;
  private probe: Promise<unknown> | undefined;

  constructor(
    private readonly deps: {
      db: Queryable;
      metrics: Pick<DeliveryMetrics, 'databaseErrors' | 'errorBackoff'>;
      log: Logger;
      stop: AbortSignal;
    },
  ) {}

  /** A pass succeeded: the next failure starts the backoff from its shortest step again. */
  succeeded(): void {
    if (this.consecutiveErrors > 0) this.deps.log.info('dispatcher resumed after database errors', { consecutiveErrors: this.consecutiveErrors });
    this.consecutiveErrors = 0;
    this.deps.metrics.errorBackoff.set(0);
  }

  /** Waits after a failed pass: until the database answers again, or the backoff for a database that answers. */
  async failed(err: Error): Promise<void> {
    const { metrics, log, stop } = this.deps;
    this.consecutiveErrors++;
    metrics.databaseErrors.inc();
    const backoffMs = Math.min(MAX_ERROR_BACKOFF_MS, 250 * 2 ** Math.min(this.consecutiveErrors - 1, 10));
    const logged = this.consecutiveErrors <= 3 || this.consecutiveErrors % 10 === 0;
    if (await this.databaseAnswers()) {
      metrics.errorBackoff.set(backoffMs / 1000);
      if (logged) log.warn('dispatcher tick failed; backing off', { error: err.message, consecutiveErrors: this.consecutiveErrors, backoffMs });
      await this.pause(backoffMs);
      return;
    }
    metrics.errorBackoff.set(PROBE_EVERY_MS / 1000);
    if (logged) {
      log.warn('dispatcher tick failed and the database does not answer; probing it until it does', {
        error: err.message,
        consecutiveErrors: this.consecutiveErrors,
        probeEveryMs: PROBE_EVERY_MS,
      });
    }
    while (!stop.aborted) {
      await this.pause(PROBE_EVERY_MS);
      if (stop.aborted || (await this.databaseAnswers())) return;
      // Counted, so the error rate shows the outage for as long as it lasts.
      metrics.databaseErrors.inc();
    }
  }

  /**
   * A cheap statement with its own short deadline: does the database answer at all? One probe at
   * a time: a probe that hangs (a black-holed server) is waited on again rather than joined by
   * more, each holding a pool connection until the query timeout.
   */
  private async databaseAnswers(): Promise<boolean> {
    this.probe ??= this.deps.db.query('SELECT 1').finally(() => {
      this.probe = undefined;
    });
    try {
      await withDeadline(this.probe, PROBE_DEADLINE_MS, 'delivery database probe');
      return true;
    } catch {
      return false;
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, this.deps.stop).catch(() => undefined);
  }
}
