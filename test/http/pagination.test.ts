import { cursorFor, pageFrom, pageQueryFields } from '../../src/http/pagination';
import { ProblemError } from '../../src/http/problem';
import { z } from 'zod';

describe('cursor pagination shared by every /v1 list', () => {
  const messages = cursorFor('messages', /^\d{1,18}$/);
  const snapshots = cursorFor('kpi-snapshots', /^[\w:-]{1,40}$/);

  it('gives back the key it encoded, and refuses a cursor of another list or a forged one by naming `cursor`', () => {
    expect(messages.decode(messages.encode(['42']))).toEqual(['42']);
    expect(snapshots.decode(snapshots.encode(['2026-03-08', '7']))).toEqual(['2026-03-08', '7']);
    for (const bad of [
      snapshots.encode(['5']),
      'bm90LWEtY3Vyc29y',
      '',
      Buffer.from('["messages","1; DROP TABLE x"]').toString('base64url'),
      Buffer.from('["messages"]').toString('base64url'),
    ]) {
      let caught: unknown;
      try {
        messages.decode(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ProblemError);
      expect((caught as ProblemError).fields).toEqual([{ field: 'cursor', message: 'not a cursor this list gave out' }]);
    }
  });

  it('a page read with limit + 1 rows says whether there is more and points after the last row shown', () => {
    const rows = [{ id: '1' }, { id: '2' }, { id: '3' }];
    const more = pageFrom(
      rows,
      2,
      (r) => r.id,
      (r) => [r.id],
      messages,
    );
    expect(more.items).toEqual(['1', '2']);
    expect(messages.decode(more.nextCursor!)).toEqual(['2']);
    expect(
      pageFrom(
        rows.slice(0, 2),
        2,
        (r) => r.id,
        (r) => [r.id],
        messages,
      ).nextCursor,
    ).toBeNull();
    expect(
      pageFrom(
        [],
        2,
        (r: { id: string }) => r.id,
        (r) => [r.id],
        messages,
      ),
    ).toEqual({ items: [], nextCursor: null });
  });

  it('limit is a whole number from 1 to 1000, 100 when not given', () => {
    const query = z.strictObject(pageQueryFields);
    expect(query.parse({})).toEqual({ limit: 100 });
    expect(query.parse({ limit: '1000' }).limit).toBe(1000);
    for (const bad of ['0', '1001', '2.5', 'ten']) expect(query.safeParse({ limit: bad }).success).toBe(false);
  });
});
