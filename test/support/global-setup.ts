import fs from 'node:fs';
import path from 'node:path';

export default async function globalSetup(): Promise<void> {
  // One id per test run; worker processes of jest inherit it.
  process.env.CRMW_TEST_RUN ??= `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const main = path.join(__dirname, '..', '..', 'dist', 'main.js');
  if (!fs.existsSync(main)) {
    throw new Error('dist/ is missing: run `npm run build` (the test command does) before jest');
  }
}
