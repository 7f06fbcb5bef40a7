import { ProblemError } from '../../http/problem';

/**
 * Page cursors are opaque to callers (base64url of the last id seen), so the order they walk can
 * change without breaking a client that only passes them back.
 */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`m:${lastId}`).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const decoded = /^m:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!decoded) throw ProblemError.invalid([{ field: 'cursor', message: 'not a cursor this API gave out' }]);
  return decoded[1]!;
}
