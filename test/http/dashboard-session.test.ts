import { DashboardSessions, SESSION_COOKIE } from '../../src/http/dashboard/dashboard-session';

type Response = Parameters<DashboardSessions['start']>[0];
type Request = Parameters<DashboardSessions['read']>[0];

const KEY = 'dashboard-session-test-key-0123';

/** A response that records the cookie set, and a request that carries one (fast lane, no server). */
function issue(sessions: DashboardSessions): { value: string; options: Record<string, unknown> } {
  let set: { value: string; options: Record<string, unknown> } | undefined;
  const res = {
    cookie: (name: string, value: string, options: Record<string, unknown>) => name === SESSION_COOKIE && (set = { value, options }),
  } as unknown as Response;
  sessions.start(res);
  return set!;
}
const requestWith = (cookie: string | undefined) => ({ get: (name: string) => (name.toLowerCase() === 'cookie' ? cookie : undefined) }) as unknown as Request;

/**
 * The dashboard's signed session cookie and CSRF token: a cookie issued under the API key is
 * accepted until it expires, one forged, altered, expired or signed under another key is not;
 * the CSRF token is the session's own.
 */
describe('dashboard sessions', () => {
  let now = 1_000_000;
  const sessions = new DashboardSessions({ apiKey: KEY, ttlMs: 60_000, secure: true, now: () => now });

  test('the cookie is HttpOnly, SameSite=Strict, scoped to /dashboard, Secure when configured, with its expiry', () => {
    const { options } = issue(sessions);
    expect(options).toMatchObject({ httpOnly: true, sameSite: 'strict', secure: true, path: '/dashboard', expires: new Date(now + 60_000) });
  });

  test('accepted as issued until it expires; refused altered, re-signed under another key, or expired', () => {
    const { value } = issue(sessions);
    const session = sessions.read(requestWith(`other=1; ${SESSION_COOKIE}=${value}`));
    expect(session).toBeDefined();

    const [expiry, id, signature] = value.split('.');
    const longer = `${Number(expiry) + 3_600_000}.${id}.${signature}`;
    expect(sessions.read(requestWith(`${SESSION_COOKIE}=${longer}`))).toBeUndefined();
    const otherKey = new DashboardSessions({ apiKey: 'another-key-of-16-chars', ttlMs: 60_000, secure: false, now: () => now });
    expect(otherKey.read(requestWith(`${SESSION_COOKIE}=${value}`))).toBeUndefined();
    for (const bad of ['', 'x', `${expiry}.${id}`, `${value}x`, 'a.b.c']) expect(sessions.read(requestWith(`${SESSION_COOKIE}=${bad}`))).toBeUndefined();
    expect(sessions.read(requestWith(undefined))).toBeUndefined();

    now += 60_000;
    expect(sessions.read(requestWith(`${SESSION_COOKIE}=${value}`))).toBeUndefined();
  });

  test("the CSRF token is the session's own: another session's, a blank or a missing one is refused", () => {
    const first = sessions.read(requestWith(`${SESSION_COOKIE}=${issue(sessions).value}`))!;
    const second = sessions.read(requestWith(`${SESSION_COOKIE}=${issue(sessions).value}`))!;
    expect(sessions.csrfValid(first, sessions.csrfToken(first))).toBe(true);
    expect(sessions.csrfValid(first, sessions.csrfToken(second))).toBe(false);
    for (const bad of [undefined, '', 'x'.repeat(43), ['a'], 42]) expect(sessions.csrfValid(first, bad)).toBe(false);
  });
});
