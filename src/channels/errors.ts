/** A failure that retrying cannot fix (4xx other than 429, invalid recipient). */
export class PermanentDeliveryError extends Error { constructor(message: string, readonly status?: number) { super(message); this.name = 'PermanentDeliveryError'; } }
/** A failure worth retrying (5xx, timeout, connection refused). */
export class TransientDeliveryError extends Error { constructor(message: string, readonly status?: number) { super(message); this.name = 'TransientDeliveryError'; } }
/** The provider asked us to slow down; the channel pauses for retryAfterMs. */
export class RateLimitedError extends Error { constructor(message: string, readonly retryAfterMs: number) { super(message); this.name = 'RateLimitedError'; } }
