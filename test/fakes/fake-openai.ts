import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How the fake answers POST /v1/chat/completions:
 *  - 'normal': 200 with one choice whose content is chatReply(request), finish_reason "stop";
 *  - 'error': 500 with an OpenAI error body;
 *  - 'hang': never answers (the client's timeout or abort has to end it);
 *  - 'garbage': 200, JSON content type, a body that is not JSON;
 *  - 'no-choices': 200, well-formed JSON with an empty choices array;
 *  - 'empty': 200 with one choice whose content is "".
 */
export type FakeChatBehaviour = 'normal' | 'error' | 'hang' | 'garbage' | 'no-choices' | 'empty';

/** The parts of a chat completion request the fake reads. */
export interface FakeChatRequest {
  model: string;
  messages: Array<{ role: string; content: string }>;
  [key: string]: unknown;
}

export interface FakeOpenAI {
  /** Pass as OPENAI_BASE_URL / the client's baseURL (ends in /v1). */
  readonly baseUrl: string;
  /** The bearer token the fake accepts. */
  readonly apiKey: string;
  /** Parsed bodies of every chat completion request, in arrival order. */
  readonly chatRequests: FakeChatRequest[];
  /** Parsed bodies of every embeddings request. */
  readonly embeddingRequests: Array<{ model: string; input: string | string[]; [key: string]: unknown }>;
  chatBehaviour: FakeChatBehaviour;
  /** The assistant text of a 'normal' answer; by default it echoes the last user message. */
  chatReply: (request: FakeChatRequest) => string;
  embeddingsBehaviour: 'normal' | 'error';
  close(): Promise<void>;
}

/** Default length of embeddings, as text-embedding-3-small and ada-002 return them. */
export const FAKE_EMBEDDING_DIMENSIONS = 1536;

/**
 * A local stand-in for the OpenAI REST API (chat completions and embeddings) on 127.0.0.1 and a
 * free port, for tests of code that uses the official openai client with a baseURL. Embeddings
 * are deterministic unit vectors derived from the input text: the same text always gives the
 * same vector, different texts give (nearly) orthogonal ones, so vector search tests are stable.
 */
export async function startFakeOpenAI(options: { apiKey?: string } = {}): Promise<FakeOpenAI> {
  const apiKey = options.apiKey ?? `sk-test-${randomBytes(12).toString('hex')}`;
  const fake: Omit<FakeOpenAI, 'baseUrl' | 'close'> = {
    apiKey,
    chatRequests: [],
    embeddingRequests: [],
    chatBehaviour: 'normal',
    chatReply: (request) => `fake completion: ${request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''}`,
    embeddingsBehaviour: 'normal',
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const error = (status: number, message: string, type: string) => json(status, { error: { message, type, param: null, code: null } });

      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        return error(401, 'Incorrect API key provided.', 'invalid_request_error');
      }
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return error(400, 'We could not parse the JSON body of your request.', 'invalid_request_error');
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') return chat(body as FakeChatRequest);
      if (req.method === 'POST' && req.url === '/v1/embeddings') return embeddings(body);
      return error(404, `Unknown request URL: ${req.method} ${req.url}.`, 'invalid_request_error');

      function chat(request: FakeChatRequest) {
        fake.chatRequests.push(request);
        const reply = (content: string) =>
          json(200, {
            id: `chatcmpl-${randomBytes(8).toString('hex')}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: request.model,
            choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
          });
        switch (fake.chatBehaviour) {
          case 'normal':
            return reply(fake.chatReply(request));
          case 'empty':
            return reply('');
          case 'error':
            return error(500, 'The server had an error while processing your request.', 'server_error');
          case 'hang':
            return; // the socket stays open until the client gives up or close() destroys it
          case 'garbage':
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end('{"id": "chatcmpl-1", "choices": [ this is not json');
          case 'no-choices':
            return json(200, { id: 'chatcmpl-1', object: 'chat.completion', model: request.model, choices: [] });
        }
      }

      function embeddings(request: { model: string; input: string | string[]; dimensions?: number; encoding_format?: string }) {
        fake.embeddingRequests.push(request);
        if (fake.embeddingsBehaviour === 'error') {
          return error(500, 'The server had an error while processing your request.', 'server_error');
        }
        const inputs = Array.isArray(request.input) ? request.input : [request.input];
        const dimensions = request.dimensions ?? FAKE_EMBEDDING_DIMENSIONS;
        json(200, {
          object: 'list',
          model: request.model,
          data: inputs.map((text, index) => {
            const vector = embeddingFor(String(text), dimensions);
            // The official client asks for base64 (little-endian float32) unless told otherwise.
            const embedding = request.encoding_format === 'base64' ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
            return { object: 'embedding', index, embedding };
          }),
          usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
        });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/** The fake's embedding of a text: a unit vector seeded by its SHA-256, exported for assertions. */
export function embeddingFor(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): Float32Array {
  const vector = new Float32Array(dimensions);
  let seed = createHash('sha256').update(text).digest().readUInt32LE(0) || 1;
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    // xorshift32: cheap, deterministic, good enough to spread values over [-1, 1).
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    const value = seed / 0x80000000 - 1;
    vector[i] = value;
    norm += value * value;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! * scale;
  return vector;
}
