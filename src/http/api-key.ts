import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';

/**
 * API-key guard for /api. Both sides are hashed first so the comparison is constant-time and
 * does not leak the key's length. Without a configured key the API stays closed.
 */
export function requireApiKey(apiKey: string | undefined): RequestHandler {
  const expected = apiKey ? digest(apiKey) : undefined;
  return (req, res, next) => {
    if (!expected) {
      res.status(401).json({ error: 'the API is disabled: set API_KEY to enable it' });
      return;
    }
    if (!matches(req, expected)) {
      res.status(401).json({ error: 'missing or wrong API key (send it as x-api-key or Authorization: Bearer)' });
      return;
    }
    next();
  };
}

/**
 * Whether the request carries the configured API key (false when none is configured): routes
 * that answer everyone, such as /health, show their details only to such a caller.
 */
export function apiKeyChecker(apiKey: string | undefined): (req: Request) => boolean {
  const expected = apiKey ? digest(apiKey) : undefined;
  return (req) => expected !== undefined && matches(req, expected);
}

/** Whether a key typed by an operator (the dashboard's login form) is the configured one, in constant time. */
export function isApiKey(candidate: string, apiKey: string | undefined): boolean {
  return !!apiKey && timingSafeEqual(digest(candidate), digest(apiKey));
}

function matches(req: Request, expected: Buffer): boolean {
  const header = req.get('x-api-key') ?? req.get('authorization')?.replace(/^Bearer\s+/i, '');
  return !!header && timingSafeEqual(digest(header), expected);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
