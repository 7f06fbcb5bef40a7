import { z } from 'zod';
import { ProblemError } from './problem';

/**
 * Cursor pagination, one way for every /v1 list: the caller passes `limit` (1–1000, default 100)
 * and the `nextCursor` of the page before as `cursor`; a page answers `{ items, nextCursor }`,
 * `nextCursor` null on the last page. Nothing is capped silently: a list is walked to its end.
 *
 * Cursors are opaque to callers (base64url of a list name and the last key seen), so the order a
 * list walks can change without breaking a client that only passes them back, and a cursor of
 * one list is refused by another.
 */
export const MAX_PAGE_LIMIT = 1000;
export const DEFAULT_PAGE_LIMIT = 100;

/** The query fields of every paginated list; extend it with the list's own filters. */
export const pageQueryFields = {
  limit: z.coerce
    .number({ message: `must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
    .int({ message: `must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
    .min(1, { message: `must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
    .max(MAX_PAGE_LIMIT, { message: `must be a whole number from 1 to ${MAX_PAGE_LIMIT}` })
    .default(DEFAULT_PAGE_LIMIT),
  cursor: z.string().max(500).optional(),
};

/** One page as every list answers it. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The zod schema of a page of `item`, for the OpenAPI document. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item), nextCursor: z.string().nullable() });
}

/**
 * A cursor for one list, keyed by the values its keyset order walks (e.g. [id], or [date, id]).
 * `keyPattern` checks each decoded part, so a forged cursor is a 400, never SQL input.
 */
export function cursorFor(list: string, keyPattern: RegExp) {
  return {
    encode(key: readonly string[]): string {
      return Buffer.from(JSON.stringify([list, ...key])).toString('base64url');
    },
    /** The key parts, or a 400 naming `cursor`. */
    decode(cursor: string): string[] {
      let parts: unknown;
      try {
        parts = JSON.parse(Buffer.from(cursor, 'base64url').toString());
      } catch {
        parts = undefined;
      }
      if (!Array.isArray(parts) || parts[0] !== list || parts.length < 2 || !parts.slice(1).every((p) => typeof p === 'string' && keyPattern.test(p))) {
        throw ProblemError.invalid([{ field: 'cursor', message: 'not a cursor this list gave out' }]);
      }
      return parts.slice(1) as string[];
    },
  };
}

/**
 * The page answer from rows read with `LIMIT limit + 1`: the extra row only says there is more,
 * and the cursor points after the last row shown.
 */
export function pageFrom<R, T>(
  rows: readonly R[],
  limit: number,
  view: (row: R) => T,
  keyOf: (row: R) => readonly string[],
  cursor: { encode(key: readonly string[]): string },
): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return { items: shown.map(view), nextCursor: rows.length > limit && last !== undefined ? cursor.encode(keyOf(last)) : null };
}
