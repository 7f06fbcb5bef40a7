import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../support/worker-process';

const ENTRY = path.join(REPO_ROOT, 'dist', 'main.js');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

// supervisord counts a program alive past `startsecs` as started: a worker with a bad setting must
// say so before it loads the client libraries (seconds on a busy host), or a crash loop never
// turns FATAL and the container is never stopped.
describe('the worker entry checks its config before loading the worker', () => {
  it('loads no client library when it is only required (the worker comes in after the config is valid)', async () => {
    const probe = `require(${JSON.stringify(ENTRY)});
      const heavy = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](twilio|express|pg|ioredis|openai|nodemailer|undici|@qdrant|@electric-sql|liquidjs)[\\\\/]/.test(k));
      console.log(JSON.stringify([...new Set(heavy.map((k) => k.split(/node_modules[\\\\/]/)[1].split(/[\\\\/]/)[0]))]));`;
    const result = await run(['-e', probe], {});
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('a bad setting exits 78 naming it, without starting anything', async () => {
    const result = await run([ENTRY], { LOCK_TTL_MS: 'not-a-number' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('config error: LOCK_TTL_MS: must be a number');
    expect(result.stdout).toBe('');
  });
});
