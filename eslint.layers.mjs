// The rooms of src/ and the one way their imports may point (STYLE.md, "The house we want to live
// in"), as eslint-plugin-boundaries elements and policies. A file may import its own room, and any
// room of a LOWER tier; rooms of the same tier are independent of each other. A new folder under
// src/ must be given a tier here (an unknown room is an error), which is the moment to decide what
// it may know. Moving a room down a tier is a design decision, not a lint fix.
//
// The tiers were read off the import graph of src/ (`grep -rn "from '\.\./" src`): every import
// there points downward, with no exception.

/** Bottom first. */
export const tiers = [
  ['util', 'logging', 'metrics', 'errors'], // no imports from other rooms; errors: the caller-error hierarchy every module throws
  ['redis', 'db', 'lifecycle', 'observability'], // clients and process plumbing; observability: traces and error tracking behind small interfaces
  ['locks', 'config', 'health'], // leases on Redis; config validates names with db/schema
  ['scheduler', 'channels', 'ai', 'templates'], // cron runtime; one file per channel; OpenAI; the sandboxed template engine every module is handed
  ['http'], // express app, problems, OpenAPI route specs: knows probes and services, never capabilities
  ['modules'], // the WorkerModule interface every capability implements
  ['knowledge', 'calls', 'delivery'], // capabilities
  ['crm'], // the CRM capability schedules through delivery and uses calls' business hours
  ['jobs'], // core jobs (trial expiration reads crm's tenants)
  ['entry'], // composition roots: main.ts, worker.ts, index.ts, the module registry beside them, cli/, db/migrate-cli.ts
];

const rooms = tiers.flat().filter((type) => type !== 'entry');

// Rooms are folders (eslint-plugin-boundaries elements); single files that play another part are
// file categories (boundaries/files), which the policies below select in addition.
export const layerElements = [
  { type: 'entry', pattern: 'src/cli', partialMatch: false },
  ...rooms.map((type) => ({ type, pattern: `src/${type}`, partialMatch: false })),
];

export const layerFiles = [
  // Composition roots: every file directly in src/ (main.ts, worker.ts, index.ts, the module registry) and
  // the migration command.
  { category: 'entry', pattern: ['src/*.ts', 'src/db/migrate-cli.ts'] },
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
  // A composition root may import every room and the other roots (index.ts re-exports worker.ts).
  { from: { file: { categories: 'entry' } }, allow: [{ to: { element: { types: { anyOf: everyRoom } } } }, { to: { file: { categories: 'entry' } } }] },
  // The CLI is a composition root too: it builds the module registry's jobs (src/worker-modules.ts).
  { from: { element: { type: 'entry' } }, allow: { to: { file: { categories: 'entry' } } } },
];
