// The rooms of src/ and the one way their imports may point (STYLE.md, "The house we want to live
// in"), as eslint-plugin-boundaries elements and policies. A file may import its own room, and any
// room of a LOWER tier; rooms of the same tier are independent of each other. A new folder under
// src/ must be given a tier here (an unknown room is an error), which is the moment to decide what
// it may know. Moving a room down a tier is a design decision, not a lint fix.
//
// The tiers were read off the import graph of src/ (`grep -rn "from '\.\./" src`): every import
// there points downward except the EXCEPTIONS at the end of this file.

/** Bottom first. */
export const tiers = [
  ['util', 'logging', 'metrics'], // no imports from other rooms
  ['redis', 'db', 'lifecycle'], // clients and process plumbing
  ['locks', 'config', 'health'], // leases on Redis; config validates names with db/schema
  ['scheduler', 'channels', 'ai'], // cron runtime; one file per channel; OpenAI
  ['http'], // express app, problems, OpenAPI route specs: knows probes and services, never capabilities
  ['modules'], // the WorkerModule interface every capability implements
  ['knowledge', 'calls', 'delivery'], // capabilities
  ['crm'], // the CRM capability schedules through delivery and uses calls' business hours
  ['jobs'], // core jobs (trial expiration reads crm's tenants)
  ['entry'], // composition roots: main.ts, index.ts, the module registry beside them, cli/, db/migrate-cli.ts
];

const rooms = tiers.flat().filter((type) => type !== 'entry');

// Rooms are folders (eslint-plugin-boundaries elements); single files that play another part are
// file categories (boundaries/files), which the policies below select in addition.
export const layerElements = [
  { type: 'entry', pattern: 'src/cli', partialMatch: false },
  ...rooms.map((type) => ({ type, pattern: `src/${type}`, partialMatch: false })),
];

export const layerFiles = [
  // Composition roots: every file directly in src/ (main.ts, index.ts, the module registry) and
  // the migration command.
  { category: 'entry', pattern: ['src/*.ts', 'src/db/migrate-cli.ts'] },
  // EXCEPTION (delete with its policy below once the module registry lives beside main.ts):
  // src/modules/index.ts and src/modules/module-jobs.ts import every capability module, arrows
  // running back up from the interface's folder.
  { category: 'registry-in-interface-folder', pattern: ['src/modules/index.ts', 'src/modules/module-jobs.ts'] },
  // EXCEPTION (delete with its policy below once the type lives at or below the modules tier):
  // src/modules/worker-module.ts hands each module the TemplateEngine, a type declared in
  // src/delivery/templates.ts, a tier above.
  { category: 'template-engine-type', pattern: 'src/delivery/templates.ts' },
];

const below = (tierIndex) => tiers.slice(0, tierIndex).flat();
const everyRoom = tiers.flat();

export const layerPolicies = [
  ...tiers.flatMap((types, tierIndex) =>
    tierIndex === 0
      ? []
      : types.map((type) => ({
          from: { element: { type } },
          allow: { to: { element: { types: { anyOf: below(tierIndex) } } } },
        })),
  ),
  // A composition root may import every room and the other roots (index.ts re-exports main.ts).
  { from: { file: { categories: 'entry' } }, allow: [{ to: { element: { types: { anyOf: everyRoom } } } }, { to: { file: { categories: 'entry' } } }] },
  // EXCEPTION (see layerFiles): the registry still inside src/modules/ may import what an entry may.
  {
    from: { file: { categories: 'registry-in-interface-folder' } },
    allow: { to: { element: { types: { anyOf: everyRoom } } } },
  },
  // EXCEPTION (see layerFiles): the WorkerModule interface imports the TemplateEngine type.
  {
    from: { element: { type: 'modules' } },
    allow: { to: { file: { categories: 'template-engine-type' } } },
  },
];
