import type { Database } from '../../src/db/database';
import { openMigratedDatabase } from '../support/harness';
import { useProcessFixture } from '../support/process-fixture';
import { createResponseValidator } from '../support/openapi-validator';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const API_KEY = 'crm-import-test-key-0123456789ab';

/**
 * POST /api/v1/contacts/import on a real worker process over real PostgreSQL: a malformed line
 * is reported by its number and every other line is imported, across chunk boundaries; CSV
 * through csv-parse; a second import of the same body changes nothing.
 */
describe('data contract: streaming contact import', () => {
  const fixture = useProcessFixture();
  let worker: WorkerProcess;
  let db: Database;
  let validator: ReturnType<typeof createResponseValidator>;

  beforeAll(async () => {
    worker = fixture.spawn('crm-import', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY });
    await waitUntilStarted(worker);
    validator = createResponseValidator((await worker.get('/api/v1/openapi.json')).json());
    db = await openMigratedDatabase('postgres', fixture.db.url);
    await db.query(`INSERT INTO tenants (id, name) VALUES ('t1', 'Tenant One')`);
  });
  afterAll(async () => {
    await db?.close();
  });

  const upload = async (contentType: string, body: string) => {
    const response = await fetch(`http://127.0.0.1:${worker.port()}/api/v1/contacts/import`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-api-key': API_KEY },
      body,
    });
    const answer = { status: response.status, type: response.headers.get('content-type') ?? '', body: (await response.json()) as any };
    // Checked against the document the worker serves.
    validator.check('POST', '/v1/contacts/import', answer.status, answer.type, answer.body);
    return answer;
  };
  const count = async (like: string) => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM contacts WHERE id LIKE $1', [like])).rows[0]!.n);

  it('NDJSON: malformed line 3 is reported by number; the other 2,499 lines are imported across chunks', async () => {
    const lines: string[] = [];
    for (let i = 1; i <= 2_500; i++) {
      lines.push(i === 3 ? '{"id": "n3", "tenantId": ' : JSON.stringify({ id: `n${i}`, tenantId: 't1', email: `n${i}@example.com`, tags: ['import'] }));
    }
    const report = await upload('application/x-ndjson', lines.join('\n') + '\n');
    expect(report.status).toBe(200);
    expect(report.body).toEqual({
      imported: 2_499,
      created: 2_499,
      updated: 0,
      unchanged: 0,
      failed: 1,
      errors: [{ line: 3, errors: [expect.objectContaining({ field: 'line', message: expect.stringMatching(/not valid JSON/) })] }],
      errorsTruncated: false,
    });
    expect(await count('n%')).toBe(2_499);
    expect((await db.query(`SELECT id FROM contacts WHERE id = 'n3'`)).rows).toEqual([]);
    expect((await db.query(`SELECT email, tags FROM contacts WHERE id = 'n2500'`)).rows).toEqual([{ email: 'n2500@example.com', tags: ['import'] }]);

    // The same body again is idempotent: nothing created, nothing changed.
    const again = await upload('application/x-ndjson', lines.join('\n'));
    expect(again.body).toEqual(expect.objectContaining({ imported: 2_499, created: 0, updated: 0, unchanged: 2_499, failed: 1 }));
  });

  it('NDJSON: invalid fields, unknown tenants and a repeated id are reported per line', async () => {
    const body = [
      JSON.stringify({ id: 'm1', tenantId: 't1', name: 'First' }),
      JSON.stringify({ id: 'm2', tenantId: 't1', phone: 'call me' }),
      '',
      JSON.stringify({ id: 'm4', tenantId: 'nobody' }),
      JSON.stringify({ id: 'm1', tenantId: 't1', name: 'Second' }),
      JSON.stringify({ id: 'm6', tenantId: 't1', name: 'null\u0000byte' }),
    ].join('\r\n');
    const report = await upload('application/x-ndjson', body);
    expect(report.body).toEqual(expect.objectContaining({ imported: 2, created: 1, updated: 1, failed: 3 }));
    expect(report.body.errors.map((e: any) => [e.line, e.errors[0].field])).toEqual([
      [2, 'phone'],
      [4, 'tenantId'],
      [6, 'name'],
    ]);
    expect((await db.query(`SELECT id, name FROM contacts WHERE id LIKE 'm%' ORDER BY id`)).rows).toEqual([{ id: 'm1', name: 'Second' }]);
  });

  it('CSV: header of field names; a record with the wrong number of cells is reported by line', async () => {
    const csv = [
      'id,tenantId,name,email,tags,consent.email,attributes',
      'v1,t1,Vera,vera@example.com,a;b,yes,"{""plan"":""gold""}"',
      'v2,t1,"Smith, Val",,,no,',
      'v3,t1,too,many,cells,here,x,y',
      'v4,t1,Vic,not-an-email,,,',
      'v5,t1,Wes,,,maybe,',
    ].join('\n');
    const report = await upload('text/csv', csv);
    expect(report.status).toBe(200);
    expect(report.body).toEqual(expect.objectContaining({ imported: 2, created: 2, failed: 3 }));
    expect(report.body.errors.map((e: any) => [e.line, e.errors[0].field])).toEqual([
      [4, 'line'],
      [5, 'email'],
      [6, 'consent.email'],
    ]);
    expect((await db.query(`SELECT id, name, email, tags, consent, attributes FROM contacts WHERE id LIKE 'v%' ORDER BY id`)).rows).toEqual([
      { id: 'v1', name: 'Vera', email: 'vera@example.com', tags: ['a', 'b'], consent: { email: true }, attributes: { plan: 'gold' } },
      { id: 'v2', name: 'Smith, Val', email: null, tags: [], consent: { email: false }, attributes: {} },
    ]);
  });

  it('caps the error list at 1,000 lines and refuses a line past 64 KiB, importing the rest', async () => {
    const lines = Array.from({ length: 1_005 }, (_, i) => JSON.stringify({ id: `e${i}`, tenantId: 't1', email: 'broken' }));
    lines.push(JSON.stringify({ id: 'long', tenantId: 't1', name: 'x'.repeat(70_000) }), JSON.stringify({ id: 'after-long', tenantId: 't1' }));
    const report = await upload('application/x-ndjson', lines.join('\n'));
    expect(report.body).toEqual(expect.objectContaining({ imported: 1, failed: 1_006, errorsTruncated: true }));
    expect(report.body.errors).toHaveLength(1_000);
    expect(report.body.errors[0]).toEqual({ line: 1, errors: [expect.objectContaining({ field: 'email' })] });
    expect(await count('e%')).toBe(0);
    expect((await db.query(`SELECT id FROM contacts WHERE id IN ('long', 'after-long')`)).rows).toEqual([{ id: 'after-long' }]);
  });

  it('refuses an unknown CSV column and another content type with problems, importing nothing', async () => {
    const header = await upload('text/csv', 'id,tenantId,shoeSize\nz1,t1,42\n');
    expect(header.status).toBe(400);
    expect(header.type).toMatch(/^application\/problem\+json/);
    expect(header.body.errors).toEqual([expect.objectContaining({ field: 'header.shoeSize' })]);
    const other = await upload('text/plain', '{"id":"z2","tenantId":"t1"}');
    expect(other.status).toBe(415);
    expect(await count('z%')).toBe(0);
  });
});
