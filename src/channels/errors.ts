/** A failure that retrying cannot fix (4xx other than 429, invalid recipient). */
export class PermanentDeliveryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}
/** A failure worth retrying (5xx, timeout, connection refused). */
export class TransientDeliveryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}
/**
 * The provider asked us to slow down for retryAfterMs. Without a destination the whole channel
 * pauses (one provider behind it: Twilio); with one (a webhook receiver's origin) only sends to
 * that destination pause, because one slow receiver says nothing about the others.
 */
export class RateLimitedError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    readonly destination?: string,
  ) {
    super(message);
    this.name = 'RateLimitedError';
  }
}
