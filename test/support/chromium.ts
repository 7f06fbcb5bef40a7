import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './worker-process';

/** Debian's chromium package (scripts/test.sh installs it); CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const TEST_RESULTS_DIR = path.join(REPO_ROOT, '.test-results');

/**
 * Real headless Chromium through playwright-core (no browser download: the system binary). As
 * root it needs --no-sandbox; with the network closed, the flags below keep it from waiting on
 * connections of its own (QUIC, component updates, sync, field trials). Playwright gives every
 * launch a fresh temporary profile (its own --user-data-dir), removed at close.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Runs a browser step; on failure writes a full-page screenshot to .test-results/<name>.png and rethrows. */
export async function withScreenshotOnFailure<T>(page: Page, name: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    await mkdir(TEST_RESULTS_DIR, { recursive: true });
    const file = path.join(TEST_RESULTS_DIR, `${name.replace(/[^\w.-]+/g, '_')}.png`);
    const shot = await page.screenshot({ path: file, fullPage: true }).then(
      () => `screenshot: ${file}`,
      (shotError: Error) => `no screenshot: ${shotError.message}`,
    );
    (err as Error).message += `\n(${shot})`;
    throw err;
  }
}
