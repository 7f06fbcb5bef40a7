import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ADMIN_DATABASE_URL } from './env';
import { budgetUnits, reserveConnections, unitsHeld, type ConnectionReservation } from './connection-budget';
import { waitFor } from './wait';

/**
 * The test files' connection budget on the real shared PostgreSQL, each test in a budget of its
 * own (a namespace), so the suite's files reserving beside it do not change what it counts.
 */
describe('the connection budget of the test files', () => {
  const namespace = () => `budget-test-${randomBytes(4).toString('hex')}`;
  let size: number;
  const held: ConnectionReservation[] = [];

  beforeAll(async () => {
    size = await budgetUnits();
  });

  afterEach(async () => {
    await Promise.all(held.splice(0).map((r) => r.release()));
  });

  const reserve = async (peak: number, ns: string, onWait?: () => void) => {
    const r = await reserveConnections(peak, { namespace: ns, everyMs: 20, onWait });
    held.push(r);
    return r;
  };

  it('holds a unit per connection reserved, and one for its own, until released', async () => {
    const ns = namespace();
    const r = await reserve(9, ns);
    expect(r.units).toBe(10);
    expect(await unitsHeld(ns)).toBe(10);
    await r.release();
    expect(await unitsHeld(ns)).toBe(0);
  });

  it('makes a reservation that does not fit wait until the units are given back', async () => {
    const ns = namespace();
    const first = await reserve(size - 10, ns);
    let waits = 0;
    let granted = false;
    const second = reserve(19, ns, () => waits++).then((r) => {
      granted = true;
      return r;
    });
    await waitFor('the second reservation to find too few units and wait', () => waits >= 3);
    expect(granted).toBe(false);
    // It takes nothing while it waits: all or nothing.
    expect(await unitsHeld(ns)).toBe(size - 9);
    await first.release();
    expect((await second).units).toBe(20);
    expect(await unitsHeld(ns)).toBe(20);
  });

  it('lets a small reservation through while a large one waits', async () => {
    const ns = namespace();
    const first = await reserve(size - 11, ns);
    let waits = 0;
    const large = reserve(19, ns, () => waits++);
    await waitFor('the large reservation to wait', () => waits >= 2);
    const small = await reserve(9, ns);
    expect(await unitsHeld(ns)).toBe(size);
    await small.release();
    await first.release();
    expect((await large).units).toBe(20);
  });

  it('refuses a reservation larger than the whole budget, naming both sizes', async () => {
    await expect(reserveConnections(size, { namespace: namespace() })).rejects.toThrow(
      `a reservation of ${size + 1} connections is more than the budget of ${size}`,
    );
  });

  it('gives the units back when the reserving connection dies (a jest worker killed)', async () => {
    const ns = namespace();
    const r = await reserveConnections(4, { namespace: ns });
    expect(await unitsHeld(ns)).toBe(5);
    const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [r.pid]);
    } finally {
      await admin.end();
    }
    await waitFor('the dead session to drop its units', async () => (await unitsHeld(ns)) === 0);
    await r.release().catch(() => undefined);
  });
});
