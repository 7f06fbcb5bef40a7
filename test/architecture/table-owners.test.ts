import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * One owner per table (fast lane, no services): every INSERT, UPDATE or DELETE on the outbox and
 * on calls in src/ is in its owning module, and the dispatchers' wake-up NOTIFY (and its channel
 * name) is written in one file. SQL is text the import graph cannot see, so this reads the source:
 * a write moved back into a route or a job fails here, naming the file and the line.
 */

const SRC = path.resolve(__dirname, '../../src');

interface Rule {
  what: string;
  pattern: RegExp;
  /** Paths relative to src/, a folder ending in '/'. */
  owners: string[];
}

/** A statement that writes `table`, also schema-qualified or quoted: INSERT INTO, UPDATE, DELETE FROM, MERGE INTO. */
function writes(table: string): RegExp {
  return new RegExp(`\\b(?:INSERT\\s+INTO|UPDATE|DELETE\\s+FROM|MERGE\\s+INTO|TRUNCATE(?:\\s+TABLE)?)\\s+(?:(?:"?\\w+"?)\\.)?"?${table}"?(?![\\w.])`, 'i');
}

const RULES: Rule[] = [
  { what: 'writes scheduled_messages', pattern: writes('scheduled_messages'), owners: ['delivery/outbox/'] },
  { what: 'writes calls', pattern: writes('calls'), owners: ['calls/call-store.ts'] },
  // Every door's opt-out (API, inbound STOP, one-click unsubscribe) lands through one module.
  { what: 'writes suppressions', pattern: writes('suppressions'), owners: ['delivery/suppression-store.ts'] },
  { what: 'writes messaging_settings', pattern: writes('messaging_settings'), owners: ['delivery/messaging-settings.ts'] },
  { what: 'writes tenant_quiet_hours', pattern: writes('tenant_quiet_hours'), owners: ['delivery/policy-store.ts'] },
  { what: 'writes tenant_frequency_caps', pattern: writes('tenant_frequency_caps'), owners: ['delivery/policy-store.ts'] },
  { what: 'sends a NOTIFY', pattern: /\bpg_notify\s*\(|\bNOTIFY\s+["\w]/i, owners: ['delivery/outbox/wakeup.ts'] },
  { what: 'names the wake-up channel', pattern: /crm_delivery_wakeup/, owners: ['delivery/outbox/wakeup.ts'] },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Comment lines (JSDoc, //) say "UPDATE calls" in prose; only code and SQL text count. */
function codeLines(text: string): Array<{ line: number; text: string }> {
  return text
    .split('\n')
    .map((t, i) => ({ line: i + 1, text: t }))
    .filter(({ text: t }) => !/^\s*(\/\/|\/\*|\*)/.test(t));
}

/** Each finding as `file:line what`; SQL split over lines is joined so "UPDATE\n calls" is seen. */
function violations(files: ReadonlyArray<{ relative: string; text: string }>): string[] {
  const found: string[] = [];
  for (const { relative, text } of files) {
    const lines = codeLines(text);
    for (const rule of RULES) {
      if (rule.owners.some((o) => (o.endsWith('/') ? relative.startsWith(o) : relative === o))) continue;
      lines.forEach((l, i) => {
        const window = `${l.text} ${lines[i + 1]?.text.trim() ?? ''}`;
        // Reported on the line where the statement starts, once.
        const startsHere = rule.pattern.test(window) && !rule.pattern.test(lines[i + 1]?.text ?? '');
        if (startsHere) found.push(`${relative}:${l.line} ${rule.what}`);
      });
    }
  }
  return found;
}

describe('table owners', () => {
  test('the scanner sees writes in their usual shapes and leaves reads and prose alone', () => {
    const sample = (text: string) => violations([{ relative: 'crm/sample.ts', text }]);
    expect(sample('await db.query(`UPDATE scheduled_messages SET status = $1`)')).toHaveLength(1);
    expect(sample('`INSERT INTO public.scheduled_messages (id)`')).toHaveLength(1);
    expect(sample('`DELETE FROM "calls" WHERE id = $1`')).toHaveLength(1);
    expect(sample('`UPDATE\n   calls SET status = $2`')).toHaveLength(1);
    expect(sample("`SELECT pg_notify('x', '0')`")).toHaveLength(1);
    expect(sample("const c = 'crm_delivery_wakeup';")).toHaveLength(1);
    expect(sample('`SELECT count(*) FROM scheduled_messages m JOIN calls c ON true`')).toEqual([]);
    expect(sample('`UPDATE call_settings SET x = 1`; `UPDATE scheduled_messages_archive SET x = 1`')).toEqual([]);
    expect(sample(' * then UPDATE calls on the provider side\n // DELETE FROM calls: the job does')).toEqual([]);
    expect(violations([{ relative: 'calls/call-store.ts', text: '`UPDATE calls SET status = $2`' }])).toEqual([]);
  });

  test('scheduled_messages and calls are written only by their owners, and the wake-up NOTIFY from one file', () => {
    const files = sourceFiles(SRC).map((full) => ({
      relative: path.relative(SRC, full).split(path.sep).join('/'),
      text: readFileSync(full, 'utf8'),
    }));
    expect(files.length).toBeGreaterThan(50);
    expect(violations(files)).toEqual([]);
  });
});
