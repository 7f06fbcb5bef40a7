import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A message the fake accepted, as Twilio would have queued it. */
export interface FakeTwilioMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  body: string | undefined;
  headers: http.IncomingHttpHeaders;
}

/** A scripted answer for the next create request, instead of accepting it. */
export type FakeTwilioReply =
  | { status: 429; retryAfterSeconds?: number }
  | { status: number; code?: number; message?: string }
  /** A body as is, not in Twilio's error shape (a proxy's HTML page, an empty or odd JSON body). */
  | { status: number; rawBody: string; contentType?: string };

export interface FakeTwilio {
  /** Pass as TWILIO_API_BASE_URL. */
  readonly baseUrl: string;
  readonly accountSid: string;
  readonly authToken: string;
  readonly messages: FakeTwilioMessage[];
  /** Every create request, accepted or not. */
  readonly requestCount: () => number;
  /** Queue answers that the next create requests get, in order, before normal service resumes. */
  reply(...replies: FakeTwilioReply[]): void;
  close(): Promise<void>;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * Twilio's Programmable Messaging API cannot be reached from here, so this stands in for it:
 * POST /2010-04-01/Accounts/{AccountSid}/Messages.json with form-encoded To, From (or
 * MessagingServiceSid) and Body, HTTP Basic auth with the account SID and auth token, answers
 * in Twilio's JSON shapes (201 with a SM… sid; errors as {code, message, more_info, status}).
 * Like Twilio, it answers 21211 to a To that is not an E.164 number (whatsapp: prefix allowed).
 */
export async function startFakeTwilio(): Promise<FakeTwilio> {
  const accountSid = `AC${randomBytes(16).toString('hex')}`;
  const authToken = randomBytes(16).toString('hex');
  const messages: FakeTwilioMessage[] = [];
  const scripted: FakeTwilioReply[] = [];
  let requests = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      const error = (status: number, code: number, message: string, headers?: Record<string, string>) =>
        send(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);

      const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) return error(404, 20404, 'The requested resource was not found');
      requests++;
      const expectedAuth = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64');
      if (req.headers.authorization !== expectedAuth || match[1] !== accountSid) {
        return error(401, 20003, 'Authenticate');
      }
      const next = scripted.shift();
      if (next && next.status === 429) {
        const retry = 'retryAfterSeconds' in next && next.retryAfterSeconds !== undefined;
        return error(429, 20429, 'Too Many Requests', retry ? { 'retry-after': String(next.retryAfterSeconds) } : {});
      }
      if (next && 'rawBody' in next) {
        res.writeHead(next.status, { 'content-type': next.contentType ?? 'application/json' });
        res.end(next.rawBody);
        return;
      }
      if (next) {
        const code = 'code' in next && next.code !== undefined ? next.code : 20500;
        return error(next.status, code, ('message' in next && next.message) || `Scripted ${next.status}`);
      }

      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const to = form.get('To');
      const from = form.get('From') ?? undefined;
      const messagingServiceSid = form.get('MessagingServiceSid') ?? undefined;
      if (!to) return error(400, 21604, "A 'To' phone number is required.");
      if (!from && !messagingServiceSid) return error(400, 21603, "A 'From' phone number is required.");
      if (!E164.test(to.replace(/^whatsapp:/, ''))) {
        return error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
      }
      const sid = `SM${randomBytes(16).toString('hex')}`;
      const body = form.get('Body') ?? undefined;
      messages.push({ sid, accountSid, to, from, messagingServiceSid, body, headers: req.headers });
      const now = new Date().toUTCString();
      send(201, {
        sid,
        account_sid: accountSid,
        to,
        from: from ?? null,
        messaging_service_sid: messagingServiceSid ?? null,
        body,
        status: 'queued',
        direction: 'outbound-api',
        num_segments: '1',
        api_version: '2010-04-01',
        date_created: now,
        date_updated: now,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    messages,
    requestCount: () => requests,
    reply: (...replies) => void scripted.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
