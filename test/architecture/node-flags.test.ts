import fs from 'node:fs';
import path from 'node:path';
import { WORKER_NODE_FLAGS } from '../support/node-flags';

const REPO_ROOT = path.join(__dirname, '..', '..');

/**
 * The worker's node flags (V8's young generation and old space capped:
 * bench/results/memory-node-flags.md) live in `npm start` (package.json), which the tests and
 * benches read (WORKER_NODE_FLAGS). The image repeats them in WORKER_NODE_FLAGS, which the
 * supervisord program passes to node (node directly, so that SIGTERM reaches the worker; an
 * operator can change them there). These checks keep the copies from drifting apart.
 */
describe('the node flags the worker ships with', () => {
  const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

  it('npm start caps the young generation and the old space', () => {
    expect(WORKER_NODE_FLAGS.some((f) => /^--max-semi-space-size=\d+$/.test(f))).toBe(true);
    expect(WORKER_NODE_FLAGS.some((f) => /^--max-old-space-size=\d+$/.test(f))).toBe(true);
  });

  it("the image sets WORKER_NODE_FLAGS to npm start's flags", () => {
    const value = /^\s*WORKER_NODE_FLAGS="([^"]*)"/m.exec(read('Dockerfile.worker'))?.[1];
    expect(value?.split(/\s+/)).toEqual([...WORKER_NODE_FLAGS]);
  });

  it('the supervisord worker program runs node with WORKER_NODE_FLAGS before the entry', () => {
    const command = /^\[program:worker\][\s\S]*?^command=(.*)$/m.exec(read('supervisord.worker.conf'))?.[1];
    expect(command).toMatch(/\bnode %\(ENV_WORKER_NODE_FLAGS\)s %\(ENV_WORKER_ENTRY\)s$/);
  });
});
