import { startDeadline } from '../util/deadline';

/** What the telephony side is told when a call is to be placed. */
export interface PlaceCallRequest {
  callId: string;
  tenantId: string;
  contactId: string | null;
  to: string;
  attempt: number;
  timezone: string;
}

export type PlaceCallResult =
  | { ok: true; providerCallId: string | null }
  /** retryable: timeouts, network errors, 408, 429 and 5xx; a 4xx is the request's own fault. */
  | { ok: false; retryable: boolean; error: string };

export interface TelephonyWebhook {
  placeCall(request: PlaceCallRequest, signal: AbortSignal): Promise<PlaceCallResult>;
}

/**
 * Places calls by POSTing JSON to TELEPHONY_WEBHOOK_URL. The Idempotency-Key is per attempt
 * (call-<id>-attempt-<n>), so a receiver that honours it never dials one attempt twice.
 */
export function createTelephonyWebhook(options: { url: string; token: string | undefined; timeoutMs: number }): TelephonyWebhook {
  return {
    async placeCall(request, signal) {
      // Covers the answer's body too; see startDeadline for why not AbortSignal.timeout.
      const deadline = startDeadline(options.timeoutMs, 'telephony webhook', signal);
      try {
        return await post(request, signal, deadline.signal);
      } finally {
        deadline.clear();
      }
    },
  };

  async function post(request: PlaceCallRequest, signal: AbortSignal, deadlineSignal: AbortSignal): Promise<PlaceCallResult> {
    let response: Response;
    try {
      response = await fetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': `call-${request.callId}-attempt-${request.attempt}`,
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
        body: JSON.stringify(request),
        signal: deadlineSignal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      return { ok: false, retryable: true, error: `telephony webhook unreachable: ${(err as Error).message}` };
    }
    const text = await response.text().catch(() => '');
    if (response.ok) {
      let providerCallId: string | null = null;
      try {
        const parsed = JSON.parse(text) as { id?: unknown; callId?: unknown };
        const id = parsed.id ?? parsed.callId;
        if (typeof id === 'string' || typeof id === 'number') providerCallId = String(id);
      } catch {
        // A receiver may answer 2xx with no body: the call was accepted all the same.
      }
      return { ok: true, providerCallId };
    }
    const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
    return { ok: false, retryable, error: `telephony webhook answered ${response.status}: ${text.slice(0, 200)}` };
  }
}
