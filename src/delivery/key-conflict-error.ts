import { CallerError, describeFields } from '../errors/caller-error';

/**
 * An idempotency key reused with a different payload. The first message under the key stands;
 * the caller must either send the same request again (an idempotent repeat) or pick a new key.
 * The HTTP layer answers 409 naming the key(s). Thrown before the caller's rows are committed.
 */
export class IdempotencyKeyConflictError extends CallerError {
  constructor(readonly conflicts: ReadonlyArray<{ tenantId: string; idempotencyKey: string }>) {
    const fields = conflicts.map((c) => ({
      field: 'idempotencyKey',
      message: `"${c.idempotencyKey}" is already used by tenant "${c.tenantId}" for a different message`,
    }));
    super('conflict', describeFields(fields), fields);
    this.name = 'IdempotencyKeyConflictError';
  }
}
