import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/** The session cookie's name; scoped to /dashboard, so the API never sees it. */
export const SESSION_COOKIE = 'crmw_dashboard';
export const COOKIE_PATH = '/dashboard';

export interface Session {
  /** Random per login: the CSRF token is derived from it, so each session has its own. */
  id: string;
  expiresAtMs: number;
}

export interface SessionOptions {
  /** Signing key material: the API key (a new API key ends every session). */
  apiKey: string;
  ttlMs: number;
  /** Set the Secure attribute (DASHBOARD_COOKIE_SECURE: the worker is reached over TLS). */
  secure: boolean;
  now?: () => number;
}

/**
 * Stateless signed sessions: the cookie holds `<expiry>.<id>.<HMAC>`, keyed from the API key, so
 * any replica with the same key accepts it and nothing is stored. The CSRF token is an HMAC of the
 * session id under a second derived key: a page of this session can send it, a cross-site form
 * cannot know it (and SameSite=Strict keeps the cookie off cross-site requests besides).
 * Logout removes the cookie from the browser; a copied cookie stays valid until its expiry, which
 * is why the lifetime is short and changing API_KEY ends every session at once.
 */
export class DashboardSessions {
  private readonly signingKey: Buffer;
  private readonly csrfKey: Buffer;
  private readonly now: () => number;

  constructor(private readonly options: SessionOptions) {
    this.signingKey = createHmac('sha256', options.apiKey).update('crm-worker dashboard session v1').digest();
    this.csrfKey = createHmac('sha256', options.apiKey).update('crm-worker dashboard csrf v1').digest();
    this.now = options.now ?? Date.now;
  }

  /** Starts a session: sets the cookie and returns it. */
  start(res: Response): Session {
    const session = { id: randomBytes(18).toString('base64url'), expiresAtMs: this.now() + this.options.ttlMs };
    const payload = `${session.expiresAtMs}.${session.id}`;
    res.cookie(SESSION_COOKIE, `${payload}.${this.sign(this.signingKey, payload)}`, {
      httpOnly: true,
      sameSite: 'strict',
      secure: this.options.secure,
      path: COOKIE_PATH,
      expires: new Date(session.expiresAtMs),
    });
    return session;
  }

  end(res: Response): void {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: this.options.secure, path: COOKIE_PATH });
  }

  /** The request's session, or undefined when the cookie is absent, forged, or expired. */
  read(req: Request): Session | undefined {
    const value = cookieValue(req.get('cookie'), SESSION_COOKIE);
    const match = value?.match(/^(\d{1,16})\.([\w-]{24})\.([\w-]{43})$/);
    if (!match) return undefined;
    const [, expiry, id, signature] = match;
    if (!equalText(signature!, this.sign(this.signingKey, `${expiry}.${id}`))) return undefined;
    const expiresAtMs = Number(expiry);
    return expiresAtMs > this.now() ? { id: id!, expiresAtMs } : undefined;
  }

  csrfToken(session: Session): string {
    return this.sign(this.csrfKey, session.id);
  }

  /** Whether a form's token belongs to this session (constant-time). */
  csrfValid(session: Session, token: unknown): boolean {
    return typeof token === 'string' && equalText(token, this.csrfToken(session));
  }

  private sign(key: Buffer, text: string): string {
    return createHmac('sha256', key).update(text).digest('base64url');
  }
}

/** Equal lengths first: a token's length is public (it is always 43 characters). */
function equalText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** One cookie's value from a Cookie header (the dashboard reads only its own). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}
