import { parseTraceparent } from '../../src/observability/traceparent';
import { scheduleRequestSchema } from '../../src/delivery/schedule-request';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

// W3C Trace Context, https://www.w3.org/TR/trace-context/#traceparent-header
describe('parseTraceparent', () => {
  it('reads a version 00 traceparent', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 0 });
  });

  it('takes a later version with more fields, as the spec asks', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
  });

  it.each([
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with more fields', `00-${TRACE}-${SPAN}-01-extra`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['free text', 'not-a-traceparent'],
    ['empty', ''],
  ])('refuses %s', (_what, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('is a 400-style issue naming traceparent in a schedule request', () => {
    const base = { tenantId: 't1', channel: 'log', recipient: 'x', scheduledAt: new Date(), template: 'hi', idempotencyKey: 'k' };
    expect(scheduleRequestSchema.safeParse({ ...base, traceparent: `00-${TRACE}-${SPAN}-01` }).success).toBe(true);
    const bad = scheduleRequestSchema.safeParse({ ...base, traceparent: `ff-${TRACE}-${SPAN}-01` });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['traceparent']);
  });
});
