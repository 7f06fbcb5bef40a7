import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPgliteDatabase } from '../../src/db/pglite-database';

// PGlite keeps whatever its WASM heap grew to: left at PostgreSQL's defaults (128 MB of shared
// buffers) the embedded worker sat near 400 MB at rest. The settings must hold on a fresh folder
// and on one opened again, where PGlite reads the folder's own postgresql.conf.
describe('the embedded database runs with explicit memory settings', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-pglite-memory-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const settings = async () => {
    const db = await createPgliteDatabase(dataDir);
    try {
      const { rows } = await db.query<{ name: string; setting: string }>(
        `SELECT name, current_setting(name) AS setting FROM pg_settings
          WHERE name IN ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'temp_buffers', 'wal_buffers') ORDER BY name`,
      );
      return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    } finally {
      await db.close();
    }
  };
  const expected = { maintenance_work_mem: '16MB', shared_buffers: '16MB', temp_buffers: '2MB', wal_buffers: '1MB', work_mem: '2MB' };

  it('on a fresh data folder', async () => {
    expect(await settings()).toEqual(expected);
  });

  it('on the same folder opened again', async () => {
    expect(await settings()).toEqual(expected);
  });
});
