import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { RateLimitedError } from './errors';

/** When Twilio answers 429 without Retry-After, the channel still pauses this long. */
export const DEFAULT_RETRY_AFTER_MS = 10_000;

/**
 * Twilio's own RequestClient (axios underneath), passed to the client as `httpClient`, which is
 * the extension point twilio-node's maintainers point to for custom hosts. It adds three things
 * the generated API surface does not offer:
 *  - a base URL: requests for https://api.twilio.com (or an edge/region host) go to apiBaseUrl,
 *    so tests reach a local fake;
 *  - a 429 becomes RateLimitedError with the Retry-After delay, which the generated code would
 *    drop (its RestException keeps no headers);
 *  - cancellation: `messages.create()` takes no AbortSignal, so withSignal() carries one to the
 *    axios request through AsyncLocalStorage.
 */
export class TwilioHttpClient extends twilio.RequestClient {
  private readonly signals = new AsyncLocalStorage<AbortSignal>();
  private readonly apiBaseUrl: URL | undefined;

  constructor(options: { apiBaseUrl?: string; timeoutMs?: number }) {
    super({ timeout: options.timeoutMs ?? 30_000, keepAlive: true, autoRetry: false });
    this.apiBaseUrl = options.apiBaseUrl ? new URL(options.apiBaseUrl) : undefined;
    this.axios.interceptors.request.use((config) => {
      const signal = this.signals.getStore();
      if (signal) config.signal = signal;
      return config;
    });
  }

  /** Runs fn with requests it makes through this client cancelled by signal. */
  withSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    return this.signals.run(signal, fn);
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const response = await super.request({ ...opts, uri: this.rebase(opts.uri) });
    if (response.statusCode === 429) {
      const headers = (response.headers ?? {}) as Record<string, string | undefined>;
      throw new RateLimitedError('Twilio 429: too many requests', retryAfterMs(headers['retry-after']));
    }
    return response;
  }

  private rebase(uri: string): string {
    if (!this.apiBaseUrl) return uri;
    const target = new URL(uri);
    const base = this.apiBaseUrl.href.replace(/\/+$/, '');
    return base + target.pathname + target.search;
  }
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3). */
export function retryAfterMs(header: string | undefined, now = Date.now()): number {
  if (!header) return DEFAULT_RETRY_AFTER_MS;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? DEFAULT_RETRY_AFTER_MS : Math.max(0, at - now);
}
