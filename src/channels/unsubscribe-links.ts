import { createHmac, timingSafeEqual } from 'node:crypto';

/** Who a one-click unsubscribe link opts out, as signed into it. */
export interface UnsubscribeTarget {
  tenantId: string;
  channel: 'email';
  recipient: string;
}

/** Where the unsubscribe route lives under the public base URL (the route itself: delivery/v1). */
export const UNSUBSCRIBE_PATH = '/api/v1/unsubscribe/';

// A version in the signed text, so a later format can be told apart and old links refused.
const SIGNED_PREFIX = 'crm-worker unsubscribe v1\n';

/**
 * One-click unsubscribe links (RFC 8058) that cannot be pointed at someone else: the token is the
 * (tenant, channel, recipient) it opts out and an HMAC-SHA256 of them under UNSUBSCRIBE_SECRET.
 * The e-mail channel puts the link in List-Unsubscribe; the unsubscribe route verifies it before
 * it writes anything. The recipient is lower-cased, as the send-time check compares it.
 */
export class UnsubscribeLinks {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly publicBaseUrl: string,
  ) {
    this.key = Buffer.from(secret, 'utf8');
  }

  tokenFor(target: UnsubscribeTarget): string {
    const payload = Buffer.from(JSON.stringify([target.tenantId, target.channel, target.recipient.trim().toLowerCase()]), 'utf8').toString('base64url');
    return `${payload}.${this.sign(payload).toString('base64url')}`;
  }

  urlFor(target: UnsubscribeTarget): string {
    return `${this.publicBaseUrl}${UNSUBSCRIBE_PATH}${this.tokenFor(target)}`;
  }

  /** The target of a token this key signed; undefined for anything else (forged, altered, malformed). */
  verify(token: string): UnsubscribeTarget | undefined {
    const [payload, signature, ...rest] = token.split('.');
    if (!payload || !signature || rest.length > 0) return undefined;
    // Compared as text: base64url's last character has bits a decoder ignores, so comparing
    // decoded bytes would accept several spellings of one signature.
    const expected = Buffer.from(this.sign(payload).toString('base64url'), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const decoded: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      if (!Array.isArray(decoded) || decoded.length !== 3 || !decoded.every((v) => typeof v === 'string' && v.length > 0)) return undefined;
      const [tenantId, channel, recipient] = decoded as string[];
      if (channel !== 'email') return undefined;
      return { tenantId: tenantId!, channel, recipient: recipient! };
    } catch {
      return undefined;
    }
  }

  private sign(payload: string): Buffer {
    return createHmac('sha256', this.key)
      .update(SIGNED_PREFIX + payload)
      .digest();
  }
}
