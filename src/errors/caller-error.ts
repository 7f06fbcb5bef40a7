/**
 * The one hierarchy of errors that are the caller's fault. A module throws the subclass that says
 * what went wrong (ValidationError, NotFoundError, ConflictError, an idempotency-key conflict);
 * the HTTP layer maps every one of them to a response in one place (http/problem.ts), by `kind`,
 * so no route needs its own try/catch. Outside HTTP (SQL door, TypeScript callers) the same
 * errors carry the same fields.
 */

/** One refused input field: `tenantId`, `contacts[3].email`, `line 17: email`. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** What kind of mistake: each is one problem type and one HTTP status. */
export type CallerErrorKind = 'invalid-input' | 'forbidden' | 'not-found' | 'conflict' | 'unsupported-media-type' | 'payload-too-large';

const STATUS_OF_KIND: Record<CallerErrorKind, number> = {
  'invalid-input': 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'unsupported-media-type': 415,
  'payload-too-large': 413,
};

export class CallerError extends Error {
  /** The HTTP status of this kind; the unversioned routes' handler still reads it. */
  readonly status: number;
  constructor(
    readonly kind: CallerErrorKind,
    message: string,
    readonly fields?: readonly FieldProblem[],
  ) {
    super(message);
    this.name = 'CallerError';
    this.status = STATUS_OF_KIND[kind];
  }
}

/**
 * The caller could not show it may do this: a request whose signature is missing or wrong (the
 * inbound webhook's X-Twilio-Signature, an unsubscribe link's HMAC). Not the API key's 401.
 */
export class ForbiddenError extends CallerError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/** The record named does not exist (or not for this tenant). */
export class NotFoundError extends CallerError {
  constructor(message: string, fields?: readonly FieldProblem[]) {
    super('not-found', message, fields);
    this.name = 'NotFoundError';
  }
}

/** The request is valid but the record's state does not allow it (e.g. moving a cancelled appointment). */
export class ConflictError extends CallerError {
  constructor(message: string, fields?: readonly FieldProblem[]) {
    super('conflict', message, fields);
    this.name = 'ConflictError';
  }
}

/** Fields joined into one message, so a log line alone says what was wrong. */
export function describeFields(fields: readonly FieldProblem[]): string {
  return fields.map((f) => `${f.field}: ${f.message}`).join('; ');
}
