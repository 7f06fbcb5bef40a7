/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
 * version-traceid-parentid-flags in lower-case hex. A message scheduled with one carries it in
 * the outbox (scheduled_messages.traceparent), and its send's span is that span's child.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZEROS = /^0+$/;

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Bit 0: the caller sampled this trace. */
  flags: number;
}

/** The parts of a valid traceparent, or undefined (any other text, version ff, an all-zero id). */
export function parseTraceparent(value: string): TraceParent | undefined {
  const match = TRACEPARENT.exec(value);
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  // Version 00 has exactly four fields; a later version may add fields after a dash.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (ALL_ZEROS.test(traceId) || ALL_ZEROS.test(spanId)) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

/** What a field or header holding a bad traceparent is told. */
export const TRACEPARENT_PROBLEM = 'not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)';

/** The outbox keeps at most this many characters (a later version's extra fields included). */
export const MAX_TRACEPARENT_LENGTH = 128;
