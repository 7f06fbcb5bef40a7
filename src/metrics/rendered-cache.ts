/**
 * Keeps a rendered metrics exposition for a short time. Prometheus scrapes every 15 s or so,
 * but /metrics is also hit by dashboards, probes and load balancers; rendering a prom-client
 * registry (default process metrics read /proc, every histogram bucket is formatted) costs
 * about half a millisecond of CPU, so at hundreds of requests a second re-rendering each time
 * would eat a large share of a core and delay the event loop for everything else. Within
 * `ttlMs` every caller gets the same text, and at most one render is in flight.
 *
 * A render can also hang: some collectors query the database (outbox row counts), and while the
 * database hangs their query waits for its timeout. So a render never holds callers for long
 * once there is a previous text: the caller that starts a refresh waits at most `waitForFreshMs`
 * for it and otherwise gets the previous text, and callers arriving while a refresh is in flight
 * get the previous text at once. A lone scraper still gets fresh figures whenever rendering works.
 */
export class RenderedCache {
  private value: string | undefined;
  private renderedAt = 0;
  private inFlight: Promise<string> | undefined;

  constructor(
    private readonly render: () => Promise<string>,
    private readonly options: { ttlMs: number; waitForFreshMs: number; now?: () => number },
  ) {}

  async get(): Promise<string> {
    const now = this.options.now ?? Date.now;
    const previous = this.value;
    if (previous !== undefined && now() - this.renderedAt < this.options.ttlMs) return previous;
    if (this.inFlight) return previous ?? this.inFlight;
    const refresh = this.render().then((text) => {
      this.value = text;
      this.renderedAt = now();
      return text;
    });
    this.inFlight = refresh;
    void refresh.then(
      () => (this.inFlight = undefined),
      () => (this.inFlight = undefined),
    );
    if (previous === undefined) return refresh;
    let timer: NodeJS.Timeout | undefined;
    const stale = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(previous), this.options.waitForFreshMs);
    });
    try {
      return await Promise.race([refresh.catch(() => previous), stale]);
    } finally {
      clearTimeout(timer);
    }
  }
}
