/**
 * Keeps a rendered metrics exposition for a short time. Prometheus scrapes every 15 s or so,
 * but /metrics is also hit by dashboards, probes and load balancers; rendering a prom-client
 * registry (default process metrics read /proc, every histogram bucket is formatted) costs
 * about half a millisecond of CPU, so at hundreds of requests a second re-rendering each time
 * would eat a large share of a core and delay the event loop for everything else. Within
 * `ttlMs` every caller gets the same text, and concurrent callers share one render in flight.
 * A value at most `ttlMs` old is well inside any scrape interval.
 */
export class RenderedCache {
  private value: string | undefined;
  private renderedAt = 0;
  private inFlight: Promise<string> | undefined;

  constructor(
    private readonly render: () => Promise<string>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<string> {
    if (this.value !== undefined && this.now() - this.renderedAt < this.ttlMs) return Promise.resolve(this.value);
    this.inFlight ??= this.render()
      .then((text) => {
        this.value = text;
        this.renderedAt = this.now();
        return text;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
