import type { Database } from '../../db/database';
import type { Logger } from '../../logging/logger';
import { withDeadline } from '../../util/deadline';
import { sendWakeUp, WAKEUP_CHANNEL } from '../outbox/wakeup';

const LISTEN_DEADLINE_MS = 10_000;

/**
 * The dispatcher's LISTEN on the wake-up channel, with its self-ping. A LISTEN connection can
 * die quietly (server restart, network cut) and then no wake-up would ever come: every heartbeat
 * the dispatcher sends itself a NOTIFY of its own (checkAndPing); if the previous one never
 * arrived, it listens again on a fresh connection and looks for work, in case a wake-up was lost.
 */
export class WakeUpListener {
  private unlisten: (() => Promise<void>) | undefined;
  /** Self-addressed NOTIFY that proves the LISTEN connection still delivers (sent, seen). */
  private pingSentAt: number | undefined;
  private pingPayload = '';

  constructor(
    private readonly deps: {
      db: Database;
      log: Logger;
      /** Unique to this dispatcher: its pings are told apart from other dispatchers'. */
      pingPrefix: string;
      /** Called for every wake-up but pings (and after listening again). */
      onWakeUp: () => void;
    },
  ) {}

  /** Listens unless already listening; a LISTEN that does not complete in time throws. */
  async ensureListening(): Promise<void> {
    if (this.unlisten) return;
    this.pingSentAt = undefined;
    const pending = this.deps.db.listen(WAKEUP_CHANNEL, (payload) => {
      if (payload === this.pingPayload) this.pingSentAt = undefined;
      else if (!payload.startsWith('ping:')) this.deps.onWakeUp();
    });
    try {
      this.unlisten = await withDeadline(pending, LISTEN_DEADLINE_MS, 'LISTEN for delivery wake-ups');
    } catch (err) {
      // A LISTEN that completes after its deadline must not linger as a second listener.
      void pending.then(
        (stop) => stop().catch(() => undefined),
        () => undefined,
      );
      throw err;
    }
  }

  /**
   * Once per heartbeat (`now` on the monotonic clock): listens again when the previous ping has
   * not come back within `pingTimeoutMs`, then sends the next ping.
   */
  async checkAndPing(now: number, pingTimeoutMs: number): Promise<void> {
    if (this.pingSentAt !== undefined && now - this.pingSentAt >= pingTimeoutMs) {
      this.deps.log.warn('wake-up listener stopped delivering; listening again');
      this.drop();
      await this.ensureListening();
      this.deps.onWakeUp();
    }
    this.pingPayload = `ping:${this.deps.pingPrefix}:${now}`;
    this.pingSentAt = now;
    await sendWakeUp(this.deps.db, this.pingPayload);
  }

  /** Forgets the connection (it may have died with the database): the next ensureListening listens anew. */
  drop(): void {
    const stale = this.unlisten;
    this.unlisten = undefined;
    void stale?.().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.unlisten?.().catch(() => undefined);
  }
}
