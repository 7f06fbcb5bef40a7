import fs from 'node:fs';
import path from 'node:path';

/**
 * The node flags the worker ships with: those of `npm start` (package.json), which the image's
 * WORKER_NODE_FLAGS repeats for supervisord (test/architecture/node-flags.test.ts keeps them equal).
 * bench/memory.ts runs this checkout's worker with them; the supervisord tests and `npm start` tests too.
 */
export const WORKER_NODE_FLAGS: readonly string[] = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts
  .start!.split(' ')
  .filter((word) => word.startsWith('--'));
