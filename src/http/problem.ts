import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import { isDatabaseUnavailable } from '../db/connection-errors';
import { CallerError, describeFields, type CallerErrorKind, type FieldProblem } from '../errors/caller-error';

/** The media type of every error answer under /api/v1 (RFC 9457). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export type { CallerErrorKind, FieldProblem } from '../errors/caller-error';

/** An RFC 9457 problem details object, with the invalid fields as `errors`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
}

// A fixed set of problem types, so a client can branch on `type` without parsing `detail`.
const TITLES = {
  'invalid-input': 'Invalid input',
  forbidden: 'Forbidden',
  'not-found': 'Not found',
  conflict: 'Conflict',
  'unsupported-media-type': 'Unsupported media type',
  'payload-too-large': 'Payload too large',
  'database-unavailable': 'Database unavailable',
  busy: 'Busy',
} as const;
export type ProblemKind = keyof typeof TITLES;

const STATUS_OF: Record<ProblemKind, number> = {
  'invalid-input': 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'unsupported-media-type': 415,
  'payload-too-large': 413,
  'database-unavailable': 503,
  busy: 503,
};

/**
 * A caller's mistake found by a route itself (a bad path parameter, an unknown id). Modules throw
 * their own CallerError subclasses; problemErrorHandler() answers every CallerError alike.
 */
export class ProblemError extends CallerError {
  constructor(kind: CallerErrorKind, detail: string, errors?: FieldProblem[]) {
    super(kind, detail, errors);
    this.name = 'ProblemError';
  }

  /** 400 naming each field; the detail repeats them so a log line alone says what was wrong. */
  static invalid(errors: FieldProblem[]): ProblemError {
    return new ProblemError('invalid-input', describeFields(errors), errors);
  }
}

export function problemOf(kind: ProblemKind, detail: string, errors?: readonly FieldProblem[]): Problem {
  return {
    type: `urn:crm-worker:problem:${kind}`,
    title: TITLES[kind],
    status: STATUS_OF[kind],
    detail,
    ...(errors && errors.length > 0 ? { errors: [...errors] } : {}),
  };
}

export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/** zod issues as fields: `tags.2: must be at most 100 characters`; unknown keys are named one by one. */
export function fieldProblems(error: z.ZodError, prefix = ''): FieldProblem[] {
  return error.issues.flatMap((issue) => {
    const at = joinPath(prefix, issue.path);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: joinPath(at === 'body' ? '' : at, [key]), message: 'is not a known field' }));
    }
    return [{ field: at, message: issue.message }];
  });
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out === '' ? 'body' : out;
}

/** Parses with zod or throws ProblemError.invalid naming every bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, prefix = ''): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw ProblemError.invalid(fieldProblems(parsed.error, prefix));
}

/**
 * The error handler of a router that speaks problem details: its own ProblemErrors, express's
 * 4xx errors (a body over the limit, malformed JSON), and the database being away (503, to be
 * retried). Anything else is a bug and goes on to the app's handler, which logs it as a 500.
 */
export function problemErrorHandler(retryAfterSeconds: number): ErrorRequestHandler {
  return (err, _req, res, next) => {
    if (err instanceof CallerError) return sendProblem(res, problemOf(err.kind, err.message, err.fields));
    if (isDatabaseUnavailable(err)) {
      res.set('Retry-After', String(retryAfterSeconds));
      return sendProblem(res, problemOf('database-unavailable', 'the database cannot be reached; retry shortly'));
    }
    if (err?.status === 503) {
      res.set('Retry-After', String(err.retryAfterSeconds ?? 1));
      return sendProblem(res, problemOf('busy', String(err.message)));
    }
    if (err?.status === 413) return sendProblem(res, problemOf('payload-too-large', String(err.message)));
    if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      return sendProblem(res, { ...problemOf('invalid-input', String(err.message)), status: err.status });
    }
    next(err);
  };
}
