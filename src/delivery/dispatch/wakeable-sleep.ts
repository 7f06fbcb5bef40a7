/**
 * The loop's sleep: until a timer, or until wake() (a NOTIFY, a freed slot, stop). A wake-up that
 * comes while the loop is awake is kept, so the next sleep returns at once instead of missing it.
 */
export class WakeableSleep {
  private woken = false;
  private wakeNow: (() => void) | undefined;

  wake(): void {
    this.woken = true;
    this.wakeNow?.();
  }

  async sleep(ms: number): Promise<void> {
    if (this.woken || ms <= 0) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeNow = done;
    });
    this.wakeNow = undefined;
    this.woken = false;
  }
}
