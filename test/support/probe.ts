import path from 'node:path';
import { Client } from 'pg';

export const PROBE_WORKER = path.join(__dirname, '..', 'fixtures', 'probe-worker.js');

/** The table the probe job writes to, created before any worker starts: the test's own, in public, not in crm-worker's schema. */
export async function createProbeTable(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, (c) =>
    c.query(`CREATE TABLE IF NOT EXISTS public.probe_writes (
      run_id uuid NOT NULL, instance text NOT NULL, step text NOT NULL, at timestamptz NOT NULL DEFAULT now())`),
  );
}

export async function withClient<T>(databaseUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
