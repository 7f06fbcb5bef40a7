import { CallerError, describeFields, type FieldProblem } from '../errors/caller-error';

/** One problem with one field of a request, e.g. { field: 'recipient', message: 'not an E.164 phone number' }. */
export type FieldIssue = FieldProblem;

/**
 * Bad input to the delivery API. Thrown before anything is written, so the caller can fix the
 * request and retry; the HTTP layer turns it into a 400 whose message names every bad field.
 */
export class ValidationError extends CallerError {
  constructor(readonly issues: readonly FieldIssue[]) {
    super('invalid-input', describeFields(issues), issues);
    this.name = 'ValidationError';
  }

  /** The first bad field, for callers that report only one. */
  get field(): string {
    return this.issues[0]?.field ?? '';
  }
}
