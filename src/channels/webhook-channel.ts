import { createHmac } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import { processClock, type WallClock } from '../db/database-clock';
import type { Logger } from '../logging/logger';
import { guardedLookup, isPrivateUrl, PrivateAddressError } from './address-guard';
import type { Channel, OutboundMessage, SendOptions, SendResult } from './channel';
import { PermanentDeliveryError, RateLimitedError, TransientDeliveryError } from './errors';

export interface WebhookChannelOptions {
  /** Target name → URL (WEBHOOK_TARGETS, WEBHOOK_URL as "default"). A recipient that is a URL is used as is. */
  targets: Readonly<Record<string, string>>;
  /** HMAC-SHA256 key; without it requests go unsigned (logged once at startup). */
  secret: string | undefined;
  allowPrivate: boolean;
  logger: Logger;
  /** Stamps x-crm-timestamp: the database's clock in the worker, so a skewed host signs with the right time. */
  clock?: WallClock;
}

export const SIGNATURE_HEADER = 'x-crm-signature';
export const TIMESTAMP_HEADER = 'x-crm-timestamp';
export const IDEMPOTENCY_HEADER = 'idempotency-key';
const DEFAULT_RETRY_AFTER_MS = 60_000;

/** sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>: what a receiver recomputes to verify. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * POSTs the message as JSON to a configured URL (n8n, Zapier, the CRM's own hook), signed over
 * timestamp and body, with the idempotency key in a header so a receiver can drop repeats; this
 * is what makes a resend after a crash safe for this channel.
 */
export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;
  /**
   * undici, Node's own HTTP client library (fetch is built on it): kept-alive connections per
   * origin, and about a third less CPU per request than node:http at a hot backlog. Every new
   * connection resolves its host through the private-address guard.
   */
  private readonly agent: Agent;

  constructor(private readonly options: WebhookChannelOptions) {
    this.agent = new Agent({ connections: 64, connect: { lookup: guardedLookup(options.allowPrivate) } });
  }

  /** Whether a recipient names a known target or is a URL (used by schedule-time validation). */
  targetNames(): ReadonlySet<string> {
    return new Set(Object.keys(this.options.targets));
  }

  async send(message: OutboundMessage, options: SendOptions): Promise<SendResult> {
    const url = this.resolve(message.recipient);
    if (!this.options.allowPrivate && isPrivateUrl(url)) {
      throw new PermanentDeliveryError(new PrivateAddressError(url.hostname, url.hostname).message);
    }
    const body = JSON.stringify({
      id: message.id,
      tenant_id: message.tenantId,
      type: message.type,
      subject: message.subject,
      message: message.body,
      idempotency_key: options.idempotencyKey,
      ...message.metadata,
    });
    const timestamp = String(Math.floor((this.options.clock ?? processClock).nowMs() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      [IDEMPOTENCY_HEADER]: options.idempotencyKey,
      [TIMESTAMP_HEADER]: timestamp,
      'user-agent': 'crm-worker-delivery',
    };
    if (this.options.secret) headers[SIGNATURE_HEADER] = webhookSignature(this.options.secret, timestamp, body);

    const response = await this.post(url, headers, body, options.signal);
    if (response.status >= 200 && response.status < 300) return { providerMessageId: response.requestId };
    const detail = `webhook ${url.host} answered ${response.status}${response.text ? `: ${response.text.slice(0, 200)}` : ''}`;
    if (response.status === 429 || (response.status === 503 && response.retryAfter !== undefined)) {
      throw new RateLimitedError(detail, response.retryAfter ?? DEFAULT_RETRY_AFTER_MS);
    }
    if (response.status === 408 || response.status >= 500) throw new TransientDeliveryError(detail, response.status);
    throw new PermanentDeliveryError(detail, response.status);
  }

  close(): void {
    void this.agent.destroy().catch(() => undefined);
  }

  private resolve(recipient: string): URL {
    const target = /^https?:\/\//i.test(recipient) ? recipient : this.options.targets[recipient];
    if (!target) throw new PermanentDeliveryError(`unknown webhook target "${recipient}"`);
    return new URL(target);
  }

  private async post(
    url: URL,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<{ status: number; text: string; retryAfter?: number; requestId?: string }> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method: 'POST', headers, body, signal, dispatcher: this.agent });
    } catch (err) {
      throw this.requestError(url, err as Error & { code?: string; cause?: Error & { code?: string } });
    }
    try {
      let text = '';
      if (response.statusCode < 200 || response.statusCode >= 300) {
        // Enough of the answer to explain a failure; a huge error page is not read in full.
        for await (const chunk of response.body) {
          text += (chunk as Buffer).toString('utf8');
          if (text.length >= 2_000) break;
        }
      }
      await response.body.dump();
      return {
        status: response.statusCode,
        text: text.slice(0, 2_000),
        retryAfter: parseRetryAfter(response.headers['retry-after']),
        requestId: headerText(response.headers['x-request-id']),
      };
    } catch (err) {
      throw new TransientDeliveryError(`webhook ${url.host}: ${(err as Error).message}`);
    }
  }

  private requestError(url: URL, err: Error & { code?: string; cause?: Error & { code?: string } }): Error {
    const cause = err.cause ?? err;
    if (cause instanceof PrivateAddressError || cause.code === 'EPRIVATE' || err.code === 'EPRIVATE') {
      return new PermanentDeliveryError(cause.message);
    }
    if (err.name === 'AbortError' || err.name === 'TimeoutError') {
      return new TransientDeliveryError(`webhook ${url.host}: timed out or aborted`);
    }
    return new TransientDeliveryError(`webhook ${url.host}: ${cause.code ?? err.code ?? err.message}`);
  }
}

/** Retry-After in seconds or as an HTTP date → milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = headerText(value);
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text.trim())) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
