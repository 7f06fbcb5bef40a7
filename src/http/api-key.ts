import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

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
    const header = req.get('x-api-key') ?? req.get('authorization')?.replace(/^Bearer\s+/i, '');
    if (!header || !timingSafeEqual(digest(header), expected)) {
      res.status(401).json({ error: 'missing or wrong API key (send it as x-api-key or Authorization: Bearer)' });
      return;
    }
    next();
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
