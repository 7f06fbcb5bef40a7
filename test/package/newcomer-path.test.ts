import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/private-services';
import { REPO_ROOT } from '../support/worker-process';

/** The README's block between <!-- newcomer-path:start --> and <!-- newcomer-path:end -->. */
function newcomerCommands(): string {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /<!-- newcomer-path:start -->\s*```sh\n([\s\S]*?)```\s*<!-- newcomer-path:end -->/.exec(readme);
  if (!block) throw new Error('README.md has no newcomer-path block');
  return block[1]!;
}

/**
 * A newcomer's path in the README, from `npm ci` to a delivered follow-up through the API only:
 * its commands, exactly as written, run by bash in a new clone of this repository with nothing
 * configured (embedded database, in-process lock, log channel). Only the port is this test's
 * (PORT and the example's WORKER_URL), so that it cannot collide with a worker already on 3002.
 */
describe('the README newcomer path', () => {
  it('npm ci, npm start, the HTTP example: the follow-up is sent', async () => {
    const commands = newcomerCommands();
    expect(commands).toMatch(/^npm ci$/m);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-newcomer-'));
    try {
      execFileSync('git', ['clone', '--quiet', REPO_ROOT, path.join(dir, 'crm-worker')]);
      const port = await freePort();
      // What a fresh shell has, and no service of the test run (no DATABASE_URL, REDIS_URL, ...).
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? dir,
        TMPDIR: os.tmpdir(),
        CI: 'true',
        PORT: String(port),
        WORKER_URL: `http://127.0.0.1:${port}`,
        SEND_IN_SECONDS: '2',
      };
      const bash = spawn('bash', ['-euo', 'pipefail', '-c', commands], {
        cwd: path.join(dir, 'crm-worker'),
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      bash.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      bash.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      // On exit of bash itself: the worker it started in the background keeps the pipes open.
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => resolve(-1), 540_000);
        bash.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      try {
        process.kill(-bash.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      if (code !== 0) throw new Error(`the newcomer commands exited ${code}:\n${output.slice(-4000)}`);
      expect(output).toMatch(/^tenant: .*"outcome":"created"/m);
      expect(output).toMatch(/^again: .*"duplicates":1/m);
      expect(output).toMatch(/^final: .*"status":"sent"/m);
      // The worker's own log line of the delivered e-mail (log channel, embedded default).
      expect(output).toContain('Hi Ann, see you on Monday.');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
