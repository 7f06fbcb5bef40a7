import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkRequest {
  body: { callId: string; tenantId: string; contactId: string | null; to: string; attempt: number; timezone: string };
  idempotencyKey: string | undefined;
  authorization: string | undefined;
}

/**
 * A telephony provider on loopback: records every POST and answers with what the test set
 * (200 and a provider id by default). Honours Idempotency-Key like a real receiver would:
 * a repeated key is answered but not recorded as a second call.
 */
export async function startTelephonySink() {
  const requests: SinkRequest[] = [];
  /** Every POST, duplicates included: what a test counts to prove nothing was sent twice. */
  const received: SinkRequest[] = [];
  const seenKeys = new Set<string>();
  let respond: (req: SinkRequest) => { status: number; body?: unknown } = (req) => ({
    status: 200,
    body: { id: `prov-${req.body.callId}-${req.body.attempt}` },
  });
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const entry: SinkRequest = {
        body: JSON.parse(raw),
        idempotencyKey: req.headers['idempotency-key'] as string | undefined,
        authorization: req.headers.authorization,
      };
      received.push(entry);
      const answer = respond(entry);
      if (answer.status < 300 && entry.idempotencyKey && seenKeys.has(entry.idempotencyKey)) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ duplicate: true }));
        return;
      }
      if (answer.status < 300 && entry.idempotencyKey) seenKeys.add(entry.idempotencyKey);
      requests.push(entry);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/calls`,
    requests,
    received,
    answerWith(fn: typeof respond) {
      respond = fn;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
