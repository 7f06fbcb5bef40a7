import { KNOWN_MESSAGE_TYPES, strategyLabeler } from '../../src/delivery/metric-labels';

describe("strategy label (a closed set, never a caller's text)", () => {
  const label = strategyLabeler([1800, 7200]);

  it('keeps the configured follow-up delays and the known types', () => {
    expect(label({ type: 'followup', variables: { strategy: '1800s' } })).toBe('1800s');
    expect(label({ type: 'followup', variables: { strategy: '7200s' } })).toBe('7200s');
    for (const type of KNOWN_MESSAGE_TYPES) expect(label({ type, variables: {} })).toBe(type);
  });

  it('puts every other strategy or type in `other`', () => {
    expect(label({ type: 'followup', variables: { strategy: 'ann@example.com' } })).toBe('other');
    expect(label({ type: 'followup', variables: { strategy: '60s' } })).toBe('other');
    expect(label({ type: 'followup', variables: { strategy: 42 } })).toBe('other');
    expect(label({ type: 'my-own-type', variables: null })).toBe('other');
  });

  it('has at most |delays| + |known types| + 1 values whatever comes in', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      seen.add(label({ type: `t${i % 37}`, variables: { strategy: i % 3 === 0 ? undefined : `${i}s` } }));
      seen.add(label({ type: KNOWN_MESSAGE_TYPES[i % KNOWN_MESSAGE_TYPES.length]!, variables: {} }));
    }
    expect(seen.size).toBeLessThanOrEqual(2 + KNOWN_MESSAGE_TYPES.length + 1);
  });
});
