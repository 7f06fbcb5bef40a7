import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { envSchema } from '../../src/config/schema';
import { REPO_ROOT } from '../support/worker-process';

/** "# NAME=value" lines of .env.example, value unquoted ("" for "# NAME="). */
function exampleSettings(): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8').split('\n')) {
    const match = /^#\s?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    const raw = match[2]!.trim();
    settings.set(match[1]!, /^".*"$/.test(raw) ? raw.slice(1, -1) : raw);
  }
  return settings;
}

/** .env.example is the newcomer's list of settings: complete, and its defaults are the real ones. */
describe('.env.example', () => {
  const settings = exampleSettings();

  it('lists every setting the config schema accepts, and nothing else', () => {
    const schemaKeys = Object.keys(envSchema.shape).sort();
    expect(schemaKeys.filter((key) => !settings.has(key))).toEqual([]);
    expect([...settings.keys()].filter((key) => !schemaKeys.includes(key))).toEqual([]);
  });

  it('shows the defaults: uncommenting every "# NAME=value" line changes nothing', () => {
    const shown = Object.fromEntries([...settings].filter(([, value]) => value !== ''));
    expect(Object.keys(shown).length).toBeGreaterThan(50);
    const fixed = { INSTANCE_ID: 'env-example-test' };
    expect(loadConfig({ ...shown, ...fixed })).toEqual(loadConfig(fixed));
  });
});
