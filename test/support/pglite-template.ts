import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPgliteDatabase } from '../../src/db/pglite-database';

/**
 * A new PGlite folder, as the worker's own createPgliteDatabase leaves one: PostgreSQL's initdb
 * has run in it, nothing of crm-worker's is in it (no schema, no migration). PGlite's initdb is
 * the slow part of opening an embedded database (4 s alone on this machine, 9 s and more while the
 * suite runs; 22 s each for four workers under libfaketime), and the folder it writes is the same
 * every time. So the global setup makes one per test run, and each test that wants a fresh
 * embedded database gets a copy of it (a quarter of a second). Migrations still run from nothing
 * on every copy: only initdb is shared. A test about a folder PGlite has never seen (the README's
 * newcomer path, the worker's first start on its default folder) leaves this out.
 */
export const PGLITE_TEMPLATE_ENV = 'CRMW_TEST_PGLITE_TEMPLATE';

/** Makes the run's template folder under `parent`, and names it for the jest workers (and their worker processes). */
export async function makePgliteTemplate(parent = os.tmpdir()): Promise<string> {
  const dir = fs.mkdtempSync(path.join(parent, 'crmw-pglite-template-'));
  const db = await createPgliteDatabase(dir);
  await db.close();
  process.env[PGLITE_TEMPLATE_ENV] = dir;
  return dir;
}

/**
 * A new folder for an embedded database: a copy of the run's template, or an empty folder (PGlite
 * runs initdb itself) when there is none, as in the fast lane, which has no global setup.
 */
export function freshPgliteDir(prefix = 'crmw-pglite-', parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  seedPgliteDir(dir);
  return dir;
}

/** Fills `dir` (new or empty) with a copy of the run's template; leaves it empty without one. */
export function seedPgliteDir(dir: string): void {
  const template = process.env[PGLITE_TEMPLATE_ENV];
  fs.mkdirSync(dir, { recursive: true });
  if (!template || !fs.existsSync(path.join(template, 'PG_VERSION'))) return;
  if (fs.readdirSync(dir).length > 0) throw new Error(`seedPgliteDir: ${dir} is not empty`);
  fs.cpSync(template, dir, { recursive: true });
}
