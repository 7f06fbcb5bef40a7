import { UnsubscribeLinks } from '../../src/channels/unsubscribe-links';

/**
 * The one-click unsubscribe token (fast lane): it names the tenant, channel and recipient it
 * opts out, and only a token signed with this key and unaltered is accepted, so a link cannot be
 * edited to unsubscribe someone else.
 */
describe('unsubscribe links', () => {
  const secret = 'unsubscribe-test-secret-0123456789abcdef';
  const links = new UnsubscribeLinks(secret, 'https://worker.example.com');
  const ann = { tenantId: 't1', channel: 'email', recipient: 'Ann@Example.com' } as const;

  it('a link points at the public URL and its token verifies to the lower-cased recipient', () => {
    const url = links.urlFor(ann);
    expect(url.startsWith('https://worker.example.com/api/v1/unsubscribe/')).toBe(true);
    const token = url.slice('https://worker.example.com/api/v1/unsubscribe/'.length);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(links.verify(token)).toEqual({ tenantId: 't1', channel: 'email', recipient: 'ann@example.com' });
  });

  it('refuses a token with another recipient or tenant under the original signature', () => {
    const [, signature] = links.tokenFor(ann).split('.');
    for (const other of [
      ['t1', 'email', 'bob@example.com'],
      ['t2', 'email', 'ann@example.com'],
      ['t1', 'sms', 'ann@example.com'],
    ]) {
      const payload = Buffer.from(JSON.stringify(other)).toString('base64url');
      expect(links.verify(`${payload}.${signature}`)).toBeUndefined();
    }
  });

  it('refuses a token signed with another key, an altered signature and malformed tokens', () => {
    const foreign = new UnsubscribeLinks('another-secret-of-at-least-32-characters', 'https://worker.example.com').tokenFor(ann);
    expect(links.verify(foreign)).toBeUndefined();
    const token = links.tokenFor(ann);
    const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
    expect(links.verify(flipped)).toBeUndefined();
    for (const bad of ['', '.', 'abc', 'a.b.c', `${token}.x`, `.${token.split('.')[1]}`]) expect(links.verify(bad)).toBeUndefined();
    // The last character of a 32-byte signature in base64url carries 2 bits a decoder ignores:
    // another spelling of the same bytes is still not the signature this key gives out.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.at(-1)!);
    const respelled = token.slice(0, -1) + alphabet[(last & ~3) | ((last + 1) & 3)];
    expect(Buffer.from(respelled.split('.')[1]!, 'base64url')).toEqual(Buffer.from(token.split('.')[1]!, 'base64url'));
    expect(links.verify(respelled)).toBeUndefined();
  });
});
