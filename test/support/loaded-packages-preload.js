/**
 * Preloaded into a worker process (`node --require` this file) by tests and benches that check
 * which client libraries a worker loads: on SIGUSR2 it writes the npm packages loaded so far
 * (from require.cache) as a JSON array to the file named by LOADED_PACKAGES_FILE.
 */
'use strict';
const fs = require('node:fs');

const file = process.env.LOADED_PACKAGES_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    const packages = new Set();
    for (const loaded of Object.keys(require.cache)) {
      const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(loaded.slice(loaded.lastIndexOf('/node_modules/')));
      if (match) packages.add(match[1]);
    }
    fs.writeFileSync(file, JSON.stringify([...packages].sort()));
  });
}
