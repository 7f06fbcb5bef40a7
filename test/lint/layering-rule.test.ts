import path from 'node:path';
import { ESLint } from 'eslint';

/**
 * The import-layering rule of eslint.config.mjs (tiers in eslint.layers.mjs), run through ESLint's
 * own Node API on code that is not in the repository: a file path inside src/ decides the room.
 */
const root = path.join(__dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

async function layeringErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, filePath) });
  return (result?.messages ?? []).filter((m) => m.ruleId?.startsWith('boundaries/')).map((m) => m.message);
}

describe('import layering rule', () => {
  it('refuses a wrong-way import: db may not know http', async () => {
    const errors = await layeringErrors('src/db/wrong-way.ts', "import { buildApp } from '../http/app';\nexport const app = buildApp;\n");
    expect(errors).toEqual(['src/db/ may not import src/http/: imports point down the tiers of eslint.layers.mjs']);
  });

  it('accepts the right-way import: http may use db', async () => {
    expect(
      await layeringErrors(
        'src/http/right-way.ts',
        "import { isDatabaseUnavailable } from '../db/connection-errors';\nexport const f = isDatabaseUnavailable;\n",
      ),
    ).toEqual([]);
  });

  it('refuses a capability reaching up to the one built on it, in every import form', async () => {
    for (const code of [
      "import { crmModule } from '../crm/module';\nexport const m = crmModule;\n",
      "import type { ModuleFactory } from '../crm/module';\nexport type M = ModuleFactory;\n",
      "export { crmModule } from '../crm/module';\n",
      "export async function load() { return import('../crm/module'); }\n",
    ]) {
      expect(await layeringErrors('src/delivery/wrong-way.ts', code)).toEqual([
        'src/delivery/ may not import src/crm/: imports point down the tiers of eslint.layers.mjs',
      ]);
    }
    expect(
      await layeringErrors('src/crm/nurture/right-way.ts', "import { cancelMessages } from '../../delivery/outbox';\nexport const c = cancelMessages;\n"),
    ).toEqual([]);
  });

  it('keeps rooms of one tier independent of each other', async () => {
    const errors = await layeringErrors('src/calls/sideways.ts', "import { deliveryModule } from '../delivery/module';\nexport const m = deliveryModule;\n");
    expect(errors).toEqual(['src/calls/ may not import src/delivery/: imports point down the tiers of eslint.layers.mjs']);
  });

  it('lets a composition root import every room', async () => {
    expect(
      await layeringErrors(
        'src/worker-modules.ts',
        "import { crmModule } from './crm/module';\nimport { loadConfig } from './config/config';\nexport const m = [crmModule, loadConfig];\n",
      ),
    ).toEqual([]);
    expect(await layeringErrors('src/db/migrate-cli.ts', "import { loadConfig } from '../config/config';\nexport const c = loadConfig;\n")).toEqual([]);
  });

  it('refuses a file in a folder of src/ that has no tier', async () => {
    const errors = await layeringErrors('src/newroom/thing.ts', "import { createLogger } from '../logging/logger';\nexport const l = createLogger;\n");
    expect(errors).toContain('File does not match any file pattern and does not belong to any known element');
  });
});
