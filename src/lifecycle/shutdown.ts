import type { Logger } from '../logging/logger';
import { withDeadline } from '../util/deadline';

interface Step {
  name: string;
  stop: () => Promise<void>;
  timeoutMs: number;
}

/**
 * Ordered shutdown: components register as they start and are stopped in reverse order, each
 * under its own deadline, so one stuck client cannot keep the others open.
 */
export class ShutdownSequence {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  register(name: string, stop: () => Promise<void>, timeoutMs = 5_000): void {
    this.steps.push({ name, stop, timeoutMs });
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  /** Idempotent: a second call returns the shutdown already under way. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await withDeadline(step.stop(), step.timeoutMs, `shutdown step ${step.name}`);
          this.logger.debug('shutdown step done', { step: step.name });
        } catch (err) {
          this.logger.warn('shutdown step failed; continuing', { step: step.name, error: (err as Error).message });
        }
      }
    })();
    return this.running;
  }
}
