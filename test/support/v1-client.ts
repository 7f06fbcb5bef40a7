import { createResponseValidator } from './openapi-validator';
import type { WorkerProcess } from './worker-process';

export interface V1Answer {
  status: number;
  type: string;
  body: any;
}

/**
 * A JSON client for a worker's /api with its API key that checks every /v1 answer against the
 * OpenAPI document that worker serves (read at the first call): `call('PUT', '/v1/tenants/t1', body)`.
 * `raw` sends a body as written (malformed JSON, ...). The worker is looked up on each call.
 */
export function v1Client(worker: () => WorkerProcess, apiKey: string) {
  let validator: ReturnType<typeof createResponseValidator> | undefined;
  return async (method: string, path: string, body?: unknown, raw?: string): Promise<V1Answer> => {
    validator ??= createResponseValidator((await worker().get('/api/v1/openapi.json')).json());
    const response = await fetch(`http://127.0.0.1:${worker().port()}/api${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    const answer = { status: response.status, type: response.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
    if (path.startsWith('/v1/')) validator.check(method, path.split('?')[0]!, answer.status, answer.type, answer.body);
    return answer;
  };
}
