import type { z } from 'zod';

/** A request body or query that failed validation; the message names the field. */
export class RequestValidationError extends Error {
  readonly status = 400;
}

/** Parses with zod and reports every problem as "field: message", joined by "; ". */
export function parseBody<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
    return `${field}: ${message}`;
  });
  throw new RequestValidationError(problems.join('; '));
}

/**
 * The message of an error that is the caller's fault, or undefined: our own validation, the
 * delivery engine's ValidationError (a bad template or address), or a reference to a record
 * that does not exist (PostgreSQL foreign_key_violation).
 */
export function validationMessage(err: unknown): string | undefined {
  if (err instanceof RequestValidationError) return err.message;
  const e = err as { name?: string; message?: string; code?: string; detail?: string };
  if (e?.name === 'ValidationError' && e.message) return e.message;
  if (e?.code === '23503') return `a referenced record does not exist${e.detail ? ` (${e.detail})` : ''}`;
  return undefined;
}
