import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedEnvelope {
  /** The request path: /api/<project>/envelope/. */
  path: string;
  headers: Record<string, unknown>;
  items: Array<{ header: Record<string, unknown>; payload: unknown }>;
  raw: string;
}

export interface SentryReceiver {
  /** A DSN pointing at this receiver, with the given public key and project 42. */
  dsn(publicKey: string): string;
  readonly envelopes: ReceivedEnvelope[];
  /** The payloads of the `event` items received so far. */
  events(): Array<Record<string, any>>;
  close(): Promise<void>;
}

/**
 * A Sentry envelope endpoint on loopback (no Sentry server runs here): takes POST
 * /api/<project>/envelope/ as the official SDK's transport sends it (newline-delimited JSON: the
 * envelope header, then each item's header and payload), answers 200, keeps every envelope.
 */
export async function startSentryReceiver(): Promise<SentryReceiver> {
  const envelopes: ReceivedEnvelope[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || !/^\/api\/\d+\/envelope\/?/.test(req.url ?? '')) {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const raw = body.toString('utf8');
      const lines = raw.split('\n').filter((l) => l.length > 0);
      const items: ReceivedEnvelope['items'] = [];
      for (let i = 1; i + 1 < lines.length; i += 2) {
        items.push({ header: JSON.parse(lines[i]!) as Record<string, unknown>, payload: JSON.parse(lines[i + 1]!) as unknown });
      }
      envelopes.push({ path: req.url ?? '', headers: JSON.parse(lines[0] ?? '{}') as Record<string, unknown>, items, raw });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    dsn: (publicKey) => `http://${publicKey}@127.0.0.1:${port}/42`,
    envelopes,
    events: () => envelopes.flatMap((e) => e.items.filter((i) => i.header['type'] === 'event').map((i) => i.payload as Record<string, any>)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
