import fs from 'node:fs';

const CANDIDATES = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'];
const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3_600, d: 86_400, y: 31_536_000 };

/** Seconds of a relative libfaketime offset ("+365d", "-3s", "+0"); undefined for any other form. */
function offsetSeconds(offset: string): number | undefined {
  const match = /^([+-]\d+(?:\.\d+)?)([smhdy]?)$/.exec(offset.trim());
  return match ? Number(match[1]) * UNIT_SECONDS[match[2]!]! : undefined;
}

/**
 * Environment that runs a process with its wall clock offset (libfaketime, Debian package
 * faketime). Monotonic time is left alone, as a real skewed host's would be. scripts/test.sh
 * installs the package; undefined when it is missing.
 *
 * When the whole run already has its clock moved (scripts/test-year-ahead.sh exports a relative
 * FAKETIME), the skew is added to that offset: a replica 3 s behind stays 3 s behind the moved
 * database clock instead of jumping back to today.
 */
export function skewedClockEnv(offset: string): Record<string, string> | undefined {
  const lib = CANDIDATES.find((p) => fs.existsSync(p));
  if (!lib) return undefined;
  const runOffset = process.env.FAKETIME ? offsetSeconds(process.env.FAKETIME) : undefined;
  const skew = offsetSeconds(offset);
  const combined = runOffset !== undefined && skew !== undefined ? runOffset + skew : undefined;
  const faketime = combined === undefined ? offset : `${combined >= 0 ? '+' : ''}${combined}`;
  return { LD_PRELOAD: lib, FAKETIME: faketime, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
