/**
 * True when Qdrant answered 404 (the collection does not exist). The client throws either the
 * fetch layer's ApiError (with status) or its own UnexpectedResponse error (status in the text).
 */
export function isMissingCollection(err: unknown): boolean {
  const e = err as { status?: unknown; message?: unknown } | null;
  if (e && e.status === 404) return true;
  return typeof e?.message === 'string' && /\b404\b/.test(e.message) && /not ?found|doesn't exist|Unexpected Response/i.test(e.message);
}
