import fs from 'node:fs';
import path from 'node:path';
import { makePgliteTemplate } from './pglite-template';

export default async function globalSetup(): Promise<void> {
  // One id per test run; worker processes of jest inherit it.
  process.env.CRMW_TEST_RUN ??= `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const main = path.join(__dirname, '..', '..', 'dist', 'main.js');
  if (!fs.existsSync(main)) {
    throw new Error('dist/ is missing: run `npm run build` (the test command does) before jest');
  }
  // PGlite's initdb once for the run, not once per embedded database (pglite-template.ts).
  await makePgliteTemplate();
}
