import { ProblemError } from './problem';

/**
 * For /v1 action routes that take no body (POST /v1/campaigns/{id}/pause, ...): a body sent
 * anyway is refused as a 400 problem naming its fields, rather than ignored, so a caller who
 * thinks it passes options learns that it does not. An empty object is no body.
 */
export function assertNoBody(body: unknown): void {
  const fields = typeof body === 'object' && body !== null ? Object.keys(body) : body === undefined ? [] : ['body'];
  if (fields.length > 0) throw ProblemError.invalid(fields.map((field) => ({ field, message: 'is not a known field: this route takes no body' })));
}
