import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePoint {
  id: string | number;
  vector: number[];
  payload: Record<string, unknown>;
}

export interface FakeCollection {
  size: number;
  distance: string;
  points: Map<string, FakePoint>;
  snapshots: Array<{ name: string; creation_time: string; size: number; checksum: string }>;
}

export interface FakeQdrant {
  /** Pass as QDRANT_URL (no trailing slash). */
  readonly url: string;
  readonly collections: Map<string, FakeCollection>;
  /** Every request as "METHOD /path", in arrival order. */
  readonly requests: string[];
  /** When false, /readyz answers 503 and every other endpoint 503 too (a Qdrant still loading). */
  ready: boolean;
  close(): Promise<void>;
}

/**
 * A local stand-in for the parts of Qdrant's REST API that crm-worker uses through
 * @qdrant/js-client-rest: /, /readyz, collection exists/create/get, points upsert/retrieve/
 * delete/count/scroll, collection delete, collection snapshots create/list/delete. Responses use Qdrant's envelope
 * ({result, status, time}); vectors of the wrong size are refused with 400 as Qdrant does.
 */
export async function startFakeQdrant(): Promise<FakeQdrant> {
  const collections = new Map<string, FakeCollection>();
  const requests: string[] = [];
  let snapshotCounter = 0;
  const state = { ready: true };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const path = url.pathname;
      requests.push(`${req.method} ${path}`);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const ok = (result: unknown) => send(200, { result, status: 'ok', time: 0.0001 });
      const fail = (status: number, error: string) => send(status, { status: { error }, time: 0.0001 });
      let body: any = {};
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return fail(400, 'Format error in JSON body');
        }
      }

      if (path === '/readyz') {
        res.writeHead(state.ready ? 200 : 503, { 'content-type': 'text/plain' });
        return res.end(state.ready ? 'all shards are ready' : 'some shards are not ready');
      }
      if (!state.ready) return fail(503, 'Service is not ready');
      if (req.method === 'GET' && path === '/') return send(200, { title: 'qdrant - vector search engine (fake)', version: '1.18.0' });

      const match = /^\/collections\/([^/]+)(\/.*)?$/.exec(path);
      if (!match) return fail(404, `Not found: ${path}`);
      const name = decodeURIComponent(match[1]!);
      const rest = match[2] ?? '';
      const collection = collections.get(name);
      const missing = () => fail(404, `Not found: Collection \`${name}\` doesn't exist!`);

      if (rest === '/exists' && req.method === 'GET') return ok({ exists: collection !== undefined });
      if (rest === '' && req.method === 'PUT') {
        if (collection) return fail(409, `Wrong input: Collection \`${name}\` already exists!`);
        const vectors = body.vectors ?? {};
        if (typeof vectors.size !== 'number' || !vectors.distance) return fail(400, 'Wrong input: vectors.size and vectors.distance are required');
        collections.set(name, { size: vectors.size, distance: vectors.distance, points: new Map(), snapshots: [] });
        return ok(true);
      }
      if (!collection) return missing();
      if (rest === '' && req.method === 'DELETE') {
        collections.delete(name);
        return ok(true);
      }
      if (rest === '' && req.method === 'GET') {
        return ok({
          status: 'green',
          optimizer_status: 'ok',
          points_count: collection.points.size,
          segments_count: 1,
          config: { params: { vectors: { size: collection.size, distance: collection.distance } } },
          payload_schema: {},
        });
      }
      if (rest === '/points' && req.method === 'PUT') {
        const points: FakePoint[] = body.points ?? [];
        for (const p of points) {
          if (!Array.isArray(p.vector) || p.vector.length !== collection.size) {
            return fail(400, `Wrong input: Vector dimension error: expected dim: ${collection.size}, got ${p.vector?.length}`);
          }
        }
        for (const p of points) collection.points.set(String(p.id), { id: p.id, vector: p.vector, payload: p.payload ?? {} });
        return ok({ operation_id: ++snapshotCounter, status: 'completed' });
      }
      if (rest === '/points' && req.method === 'POST') {
        const ids: Array<string | number> = body.ids ?? [];
        return ok(
          ids
            .map((id) => collection.points.get(String(id)))
            .filter((p): p is FakePoint => p !== undefined)
            .map((p) => ({
              id: p.id,
              ...(body.with_payload === false ? {} : { payload: p.payload }),
              ...(body.with_vector ? { vector: p.vector } : {}),
            })),
        );
      }
      if (rest === '/points/delete' && req.method === 'POST') {
        if (!Array.isArray(body.points)) return fail(400, 'the fake supports deletion by point ids only');
        for (const id of body.points) collection.points.delete(String(id));
        return ok({ operation_id: ++snapshotCounter, status: 'completed' });
      }
      if (rest === '/points/count' && req.method === 'POST') return ok({ count: collection.points.size });
      if (rest === '/points/scroll' && req.method === 'POST') {
        // Ordered by id, a page from `offset` (an id) on, as Qdrant pages; payload keys as asked.
        const ids = [...collection.points.keys()].sort();
        const start = body.offset === undefined || body.offset === null ? 0 : Math.max(0, ids.indexOf(String(body.offset)));
        const limit: number = body.limit ?? 10;
        const page = ids.slice(start, start + limit).map((id) => collection.points.get(id)!);
        const payloadOf = (p: FakePoint) =>
          Array.isArray(body.with_payload) ? Object.fromEntries(body.with_payload.map((k: string) => [k, p.payload[k]])) : p.payload;
        return ok({
          points: page.map((p) => ({
            id: p.id,
            ...(body.with_payload === false ? {} : { payload: payloadOf(p) }),
            ...(body.with_vector ? { vector: p.vector } : {}),
          })),
          next_page_offset: ids[start + limit] ?? null,
        });
      }
      if (rest === '/snapshots' && req.method === 'POST') {
        const created = new Date(Date.now() + snapshotCounter++).toISOString().replace('Z', '');
        const snapshot = {
          name: `${name}-fake-${created.replace(/[:.]/g, '-')}-${snapshotCounter}.snapshot`,
          creation_time: created,
          size: 1024 + collection.points.size,
          checksum: `fake${snapshotCounter}`,
        };
        collection.snapshots.push(snapshot);
        return ok(snapshot);
      }
      if (rest === '/snapshots' && req.method === 'GET') return ok(collection.snapshots);
      const snap = /^\/snapshots\/([^/]+)$/.exec(rest);
      if (snap && req.method === 'DELETE') {
        const snapshotName = decodeURIComponent(snap[1]!);
        const index = collection.snapshots.findIndex((s) => s.name === snapshotName);
        if (index < 0) return fail(404, `Not found: Snapshot ${snapshotName} not found`);
        collection.snapshots.splice(index, 1);
        return ok(true);
      }
      return fail(404, `Not found: ${req.method} ${path}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    collections,
    requests,
    get ready() {
      return state.ready;
    },
    set ready(value: boolean) {
      state.ready = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
