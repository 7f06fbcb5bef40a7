#!/usr/bin/env node
// The `prepare` script: builds dist/ unless it is newer than everything it is built from.
//
// npm runs `prepare` after `npm ci` / `npm install` (the README's install builds the worker that
// way), but also whenever `npx crm-worker` runs in this repository: npm exec reifies the project
// and runs its prepare. A full build there deleted dist/ while worker processes were starting
// from it (a test run saw "Cannot find module dist/main.js") and cost every CLI call a compile.
// `npm run build` still rebuilds from scratch.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const inputs = ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestMtimeMs(entry) {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestMtimeMs(path.join(entry, name)));
  return newest;
}

const built = fs.statSync(stamp, { throwIfNoEntry: false });
const sourcesChanged = inputs.reduce((max, entry) => Math.max(max, newestMtimeMs(path.join(root, entry))), 0);
if (built && built.mtimeMs >= sourcesChanged) process.exit(0);

const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath, 'run', '--silent', 'build']] : ['npm', ['run', '--silent', 'build']];
// The build writes dist/.build-stamp last, so a build cut off halfway is redone.
execFileSync(npm[0], npm[1], { cwd: root, stdio: 'inherit' });
