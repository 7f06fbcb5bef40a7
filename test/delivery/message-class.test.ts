import fs from 'node:fs';
import path from 'node:path';
import { CLASS_BY_TYPE, DEFAULT_CLASS, classOfRowSql, classOfType } from '../../src/delivery/message-class';

/**
 * The type -> class mapping lives in message-class.ts; migration 0040 repeats it once, to backfill
 * the rows stored before it. The two must agree, and the claim's SQL is built from the module.
 */
describe('message class', () => {
  it('maps crm-worker types, and any other type to the default', () => {
    expect(classOfType('appointment-reminder')).toBe('transactional');
    expect(classOfType('campaign')).toBe('marketing');
    expect(classOfType('nurture')).toBe('marketing');
    expect(classOfType('lead-reminder')).toBe('followup');
    expect(classOfType('something-else')).toBe(DEFAULT_CLASS);
    expect(classOfType('constructor')).toBe(DEFAULT_CLASS);
  });

  it("the migration's backfill says the same as the module", () => {
    const sql = fs.readFileSync(path.join(__dirname, '../../src/db/migrations/0040_delivery_policies.sql'), 'utf8');
    const backfill = /UPDATE scheduled_messages SET class = CASE type([\s\S]*?)END/.exec(sql)?.[1] ?? '';
    const pairs = Object.fromEntries([...backfill.matchAll(/WHEN '([^']+)' THEN '([^']+)'/g)].map((m) => [m[1], m[2]]));
    const otherwise = /ELSE '([^']+)'/.exec(backfill)?.[1];
    expect(otherwise).toBe(DEFAULT_CLASS);
    const backfilled = (type: string): string | undefined => pairs[type] ?? otherwise;
    for (const type of [...Object.keys(CLASS_BY_TYPE), ...Object.keys(pairs), 'unknown-type']) {
      expect({ type, cls: backfilled(type) }).toEqual({ type, cls: classOfType(type) });
    }
  });

  it('builds the SQL from the mapping: the class column first, then the type', () => {
    const sql = classOfRowSql('m');
    expect(sql.startsWith('coalesce(m.class, CASE m.type')).toBe(true);
    for (const [type, cls] of Object.entries(CLASS_BY_TYPE)) expect(sql).toContain(`WHEN '${type}' THEN '${cls}'`);
  });
});
