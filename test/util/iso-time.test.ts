import fc from 'fast-check';
import { DateTime } from 'luxon';
import { isCalendarDate, parseIsoInstant, parseZonedTime } from '../../src/util/iso-time';

/**
 * The one time parser as a pure function (fast lane, no services): every instant written with
 * an offset in the accepted years is read back as the same instant, whatever offset it is
 * written in; the refusals are covered route by route in test/process/strict-input.test.ts.
 */
describe('iso-time', () => {
  const accepted = fc.date({ min: new Date('1970-01-01T14:00:00Z'), max: new Date('9999-12-31T10:00:00Z'), noInvalidDate: true });
  const offsetMinutes = fc.integer({ min: -14 * 60, max: 14 * 60 });

  it('reads back every instant written as toISOString()', () => {
    fc.assert(
      fc.property(accepted, (date) => {
        expect(parseIsoInstant(date.toISOString())).toEqual({ value: date });
      }),
    );
  });

  it('reads the same instant whatever offset it is written in', () => {
    fc.assert(
      fc.property(accepted, offsetMinutes, (date, offset) => {
        const text = DateTime.fromJSDate(date)
          .setZone(offset === 0 ? 'UTC' : `UTC${offset > 0 ? '+' : '-'}${Math.floor(Math.abs(offset) / 60)}:${String(Math.abs(offset) % 60).padStart(2, '0')}`)
          .toISO({ suppressMilliseconds: false });
        expect(parseIsoInstant(text)).toEqual({ value: date });
      }),
    );
  });

  it('takes a local time with a zone, and refuses one that does not exist', () => {
    expect(parseZonedTime('2025-01-15T09:00', 'Europe/Berlin')).toEqual({ value: new Date('2025-01-15T08:00:00Z') });
    expect(parseZonedTime('2030-02-30T09:00', 'Europe/Berlin')).toEqual({ problem: expect.stringContaining('exists') });
  });

  it('knows which calendar dates exist', () => {
    fc.assert(
      fc.property(accepted, (date) => {
        expect(isCalendarDate(date.toISOString().slice(0, 10))).toBe(true);
      }),
    );
    for (const bad of ['2027-02-29', '2100-02-29', '2027-04-31', '2027-13-01', '2027-00-10', '1969-12-31', '10000-01-01', '2027-1-5']) {
      expect({ bad, ok: isCalendarDate(bad) }).toEqual({ bad, ok: false });
    }
    expect(isCalendarDate('2028-02-29')).toBe(true);
    expect(isCalendarDate('2000-02-29')).toBe(true);
  });
});
