import type { DeliveryConfig } from '../config/config';

/** Attempts allowed for a message type (DELIVERY_RETRY_POLICIES, else DELIVERY_MAX_ATTEMPTS). */
export function maxAttemptsFor(retry: DeliveryConfig['retry'], type: string): number {
  return retry.byType[type]?.maxAttempts ?? retry.maxAttempts;
}

/**
 * Delay before attempt n+1 after n failed: base·2^(n-1), capped, with "equal jitter" (half fixed,
 * half random) so retries of a batch that failed together do not hit the provider together again.
 */
export function retryDelayMs(retry: DeliveryConfig['retry'], type: string, failedAttempts: number, random = Math.random): number {
  const base = retry.byType[type]?.baseDelayMs ?? retry.baseDelayMs;
  const exponential = Math.min(retry.maxDelayMs, base * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
