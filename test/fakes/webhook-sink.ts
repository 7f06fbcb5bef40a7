import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the sink accepted as a delivery (the first 2xx for its Idempotency-Key). */
export interface SinkDelivery {
  key: string;
  body: Record<string, unknown>;
  receivedAt: number;
  signatureValid: boolean | undefined;
  headers: http.IncomingHttpHeaders;
}

/** What the sink does with a request that is not a duplicate. */
export type SinkReply =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  /** Never answers (until the sink closes): a provider that hangs. */
  | { hang: true };

export interface SinkRequestInfo {
  key: string;
  body: Record<string, unknown>;
  /** How many requests (including this one) arrived with this key. */
  attempt: number;
}

export interface WebhookSink {
  readonly url: string;
  /** Accepted deliveries, one per idempotency key at most. */
  readonly deliveries: SinkDelivery[];
  /** Requests that repeated a key already delivered: answered 200 again, not delivered twice. */
  readonly duplicates: Array<{ key: string; receivedAt: number }>;
  /**
   * Requests that arrived while another request with the same key was still being answered: two
   * senders held the same message at once (what a lease must prevent).
   */
  readonly overlaps: Array<{ key: string; receivedAt: number }>;
  /** Every request, in arrival order, with what it was answered. */
  readonly requests: Array<{ key: string; receivedAt: number; status: number | 'hang' }>;
  /** Decides replies for non-duplicate requests; default 200. */
  respond(handler: (info: SinkRequestInfo) => SinkReply | Promise<SinkReply>): void;
  /** Calls back when a delivery is recorded (before the reply is written). */
  onDelivery(listener: (delivery: SinkDelivery) => void): void;
  deliveredKeys(): Set<string>;
  close(): Promise<void>;
}

/**
 * A recording webhook receiver on loopback that honours Idempotency-Key the way a careful
 * receiver (n8n dedup node, Stripe-style APIs) does: a key it already accepted is answered 200
 * again and recorded as a duplicate, never as a second delivery. With a secret it checks the
 * x-crm-signature HMAC over "<x-crm-timestamp>.<body>".
 */
export async function startWebhookSink(options: { secret?: string } = {}): Promise<WebhookSink> {
  const deliveries: SinkDelivery[] = [];
  const duplicates: WebhookSink['duplicates'] = [];
  const requests: WebhookSink['requests'] = [];
  const overlaps: WebhookSink['overlaps'] = [];
  const answering = new Map<string, number>();
  const delivered = new Set<string>();
  const attempts = new Map<string, number>();
  const hanging = new Set<http.ServerResponse>();
  const listeners: Array<(d: SinkDelivery) => void> = [];
  let handler: (info: SinkRequestInfo) => SinkReply | Promise<SinkReply> = () => ({ status: 200 });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const receivedAt = Date.now();
        const raw = Buffer.concat(chunks).toString('utf8');
        const key = String(req.headers['idempotency-key'] ?? '');
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          requests.push({ key, receivedAt, status: 400 });
          res.writeHead(400).end('not json');
          return;
        }
        if (!key) {
          requests.push({ key, receivedAt, status: 400 });
          res.writeHead(400).end('missing Idempotency-Key');
          return;
        }
        if ((answering.get(key) ?? 0) > 0) overlaps.push({ key, receivedAt });
        answering.set(key, (answering.get(key) ?? 0) + 1);
        res.on('close', () => answering.set(key, (answering.get(key) ?? 1) - 1));
        if (delivered.has(key)) {
          duplicates.push({ key, receivedAt });
          requests.push({ key, receivedAt, status: 200 });
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"duplicate":true}');
          return;
        }
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        const reply = await handler({ key, body, attempt });
        if ('hang' in reply) {
          requests.push({ key, receivedAt, status: 'hang' });
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        requests.push({ key, receivedAt, status: reply.status });
        if (reply.status >= 200 && reply.status < 300) {
          if (delivered.has(key)) {
            // A concurrent request with the same key won while this one waited.
            duplicates.push({ key, receivedAt });
          } else {
            delivered.add(key);
            const delivery: SinkDelivery = {
              key,
              body,
              receivedAt,
              headers: req.headers,
              signatureValid: options.secret ? verify(options.secret, req.headers, raw) : undefined,
            };
            deliveries.push(delivery);
            for (const listener of listeners) listener(delivery);
          }
        }
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.body ?? '{"ok":true}');
      })();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    duplicates,
    overlaps,
    requests,
    respond(next) {
      handler = next;
    },
    onDelivery(listener) {
      listeners.push(listener);
    },
    deliveredKeys: () => new Set(delivered),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function verify(secret: string, headers: http.IncomingHttpHeaders, raw: string): boolean {
  const timestamp = String(headers['x-crm-timestamp'] ?? '');
  const given = Buffer.from(String(headers['x-crm-signature'] ?? ''));
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
