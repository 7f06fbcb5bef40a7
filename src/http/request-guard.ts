import type { RequestHandler } from 'express';

/**
 * Keys no request may carry at any depth. JSON.parse makes `__proto__` an own key; copied with
 * spread, Object.assign or a merge it replaces the prototype of the copy, and a settings body
 * made of `{"__proto__": {...}}` then reads as empty and wipes what was stored.
 */
const REFUSED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** How deep a body may nest; deeper is refused rather than walked (a stack-depth attack). */
const MAX_DEPTH = 64;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** One refused part of a request: where it is (variables.__proto__, messages[2].template) and why. */
export interface RequestProblem {
  field: string;
  message: string;
}

/**
 * Why a string cannot be stored, or undefined. PostgreSQL text cannot hold NUL (the insert fails
 * with a 500 otherwise), and a lone UTF-16 surrogate has no UTF-8 form at all.
 */
export function stringProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'contains a lone surrogate (not valid Unicode)';
  return undefined;
}

/** The first problem in a parsed JSON value or query, with its path; undefined when it is clean. */
export function findRequestProblem(value: unknown, path = '', depth = 0): RequestProblem | undefined {
  const here = path === '' ? 'body' : path;
  if (typeof value === 'string') {
    const problem = stringProblem(value);
    return problem ? { field: here, message: problem } : undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > MAX_DEPTH) return { field: here, message: `nested more than ${MAX_DEPTH} levels deep` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findRequestProblem(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const field = path === '' ? key : `${path}.${key}`;
    if (REFUSED_KEYS.has(key)) return { field, message: `the key "${key}" is not allowed` };
    const keyProblem = stringProblem(key);
    if (keyProblem) return { field: path === '' ? 'body' : path, message: `a key ${keyProblem}` };
    const found = findRequestProblem((value as Record<string, unknown>)[key], field, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Refuses, before any route sees it, a request whose path, query or JSON body holds a string
 * PostgreSQL cannot store or a prototype-shaped key: a 400 naming where it is. Mounted after
 * the JSON parser, so every /api route is covered, including those written later.
 */
export function refuseUnsafeInput(): RequestHandler {
  return (req, res, next) => {
    let problem: RequestProblem | undefined;
    try {
      const pathProblem = stringProblem(decodeURIComponent(req.path));
      if (pathProblem) problem = { field: 'path', message: pathProblem };
    } catch {
      problem = { field: 'path', message: 'is not valid percent-encoded UTF-8' };
    }
    problem ??= findRequestProblem(req.query, '', 0) ?? findRequestProblem(req.body, '', 0);
    if (!problem) return next();
    res.status(400).json({ error: `${problem.field}: ${problem.message}`, field: problem.field, issues: [problem] });
  };
}

/**
 * For routes that take no body (pause, cancel, convert, ...): a body with fields is refused
 * rather than ignored, as unknown fields are everywhere else; no body or `{}` passes.
 */
export function takesNoBody(): RequestHandler {
  return (req, res, next) => {
    const body: unknown = req.body;
    const fields = typeof body === 'object' && body !== null ? Object.keys(body) : body === undefined ? [] : ['body'];
    if (fields.length === 0) return next();
    const problem = { field: fields.join(', '), message: 'unknown field(s): this route takes no body' };
    res.status(400).json({ error: `${problem.field}: ${problem.message}`, field: problem.field, issues: [problem] });
  };
}
