import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../../src/channels/webhook-channel';
import { preciseNow } from './recorder';

/** The HMAC key every system under test signs with (crm-worker: WEBHOOK_SECRET). */
export const SINK_SECRET = 'fair-bench-secret';

/** What the sink saw of one group of messages (a tenant, or a whole run). */
export interface SinkGroup {
  /** Distinct idempotency keys received with a valid signature. */
  handled: number;
  /** Arrival − due time, ms, one per distinct key. */
  lags: number[];
  firstArrival: number | null;
  lastArrival: number | null;
}

/**
 * The one webhook receiver of the fair benches, shared by crm-worker and its peers: it checks
 * each POST's HMAC-SHA256 signature with crm-worker's own webhookSignature (so a peer that
 * signed differently would count as bad, not as delivered), and counts per idempotency key, so
 * a resend is a duplicate rather than a second delivery.
 *
 * Keys are `<group>:<anything>:<due epoch ms>`: the first part names the group (a tenant) the
 * message is counted under, the last its due time, so lag needs no lookup. Answers 200 before
 * counting, like any receiver that acknowledges first.
 */
export async function startSignedSink() {
  const groups = new Map<string, SinkGroup>();
  const seen = new Set<string>();
  let duplicates = 0;
  let badSignatures = 0;
  const waiters: { group: string; count: number; resolve: () => void }[] = [];

  const groupOf = (name: string): SinkGroup => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { handled: 0, lags: [], firstArrival: null, lastArrival: null }));
    return g;
  };

  const server = http.createServer((req, res) => {
    const arrived = preciseNow();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      const body = Buffer.concat(chunks).toString('utf8');
      const timestamp = header(req, TIMESTAMP_HEADER);
      const signature = header(req, SIGNATURE_HEADER);
      const key = header(req, IDEMPOTENCY_HEADER);
      if (!timestamp || !signature || !key || !sameText(signature, webhookSignature(SINK_SECRET, timestamp, body))) {
        badSignatures++;
        return;
      }
      if (seen.has(key)) {
        duplicates++;
        return;
      }
      seen.add(key);
      const parts = key.split(':');
      const g = groupOf(parts[0]!);
      g.handled++;
      g.lags.push(arrived - Number(parts[parts.length - 1]));
      g.firstArrival ??= arrived;
      g.lastArrival = arrived;
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (groupOf(w.group).handled >= w.count) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    group: groupOf,
    duplicates: () => duplicates,
    badSignatures: () => badSignatures,
    /** Resolves true once `count` keys of `group` arrived, false if capMs passed first. */
    waitFor(group: string, count: number, capMs: number): Promise<boolean> {
      if (groupOf(group).handled >= count) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), capMs);
        waiters.push({
          group,
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(true);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type SignedSink = Awaited<ReturnType<typeof startSignedSink>>;

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
