import { decideCaps, type Cap, type CountedMessage } from '../../src/delivery/cap-decision';

/** The frequency caps' verdict as a pure function (fast lane): what the claim decides under its locks. */
describe('decideCaps', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  const hour = 3_600_000;
  const cap = (over: Partial<Cap> = {}): Cap => ({ tenantId: 't', class: 'marketing', maxMessages: 2, periodMs: hour, mode: 'defer', ...over });
  const sent = (minutesAgo: number, cls: CountedMessage['class'] = 'marketing', contactId = 'c'): CountedMessage => ({
    tenantId: 't',
    contactId,
    class: cls,
    atMs: now - minutesAgo * 60_000,
  });
  const candidate = (id: string, cls: CountedMessage['class'] = 'marketing', contactId = 'c') => ({ id, tenantId: 't', contactId, class: cls });

  it('sends while the period has room, counting the ones it admits, and defers the rest to when the oldest leaves the period', () => {
    const verdicts = decideCaps({ nowMs: now, caps: [cap()], counted: [sent(50)], candidates: [candidate('a'), candidate('b'), candidate('c')] });
    expect(verdicts.get('a')).toEqual({ action: 'send' });
    // 'b' and 'c': two counted (50 minutes ago and now): room again when the older leaves, in 10 minutes.
    expect(verdicts.get('b')).toEqual({ action: 'defer', untilMs: now + 10 * 60_000 });
    expect(verdicts.get('c')).toEqual({ action: 'defer', untilMs: now + 10 * 60_000 });
  });

  it('forgets what left the period, and counts per contact and per class', () => {
    const verdicts = decideCaps({
      nowMs: now,
      caps: [cap({ maxMessages: 1 })],
      counted: [sent(61), sent(5, 'followup'), sent(5, 'transactional'), sent(5, 'marketing', 'other')],
      candidates: [candidate('a'), candidate('b', 'followup'), candidate('c', 'transactional')],
    });
    expect([...verdicts.values()].map((v) => v.action)).toEqual(['send', 'send', 'send']);
  });

  it("skips when a cap over it says skip; '*' counts every class but transactional; the latest moment wins", () => {
    const verdicts = decideCaps({
      nowMs: now,
      caps: [cap({ class: '*', maxMessages: 2, periodMs: 24 * hour }), cap({ class: 'followup', maxMessages: 1, periodMs: 24 * hour, mode: 'skip' })],
      counted: [sent(120, 'followup'), sent(30, 'transactional')],
      candidates: [candidate('m1'), candidate('f1', 'followup'), candidate('m2'), candidate('t1', 'transactional')],
    });
    expect(verdicts.get('m1')).toEqual({ action: 'send' });
    // Over both: '*' (2 in the day) and the follow-up cap that skips.
    expect(verdicts.get('f1')).toEqual({ action: 'skip' });
    // '*' is full (120 minutes ago and m1 now): room when the older leaves the day.
    expect(verdicts.get('m2')).toEqual({ action: 'defer', untilMs: now - 120 * 60_000 + 24 * hour });
    expect(verdicts.get('t1')).toEqual({ action: 'send' });
  });

  it('caps one tenant only by its own caps', () => {
    const verdicts = decideCaps({ nowMs: now, caps: [cap({ tenantId: 'other', maxMessages: 1 })], counted: [sent(1)], candidates: [candidate('a')] });
    expect(verdicts.get('a')).toEqual({ action: 'send' });
  });
});
