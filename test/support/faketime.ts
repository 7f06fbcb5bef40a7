import fs from 'node:fs';

const CANDIDATES = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'];

/**
 * Environment that runs a process with its wall clock offset (libfaketime, Debian package
 * faketime). Monotonic time is left alone, as a real skewed host's would be. scripts/test.sh
 * installs the package; undefined when it is missing.
 */
export function skewedClockEnv(offset: string): Record<string, string> | undefined {
  const lib = CANDIDATES.find((p) => fs.existsSync(p));
  if (!lib) return undefined;
  return { LD_PRELOAD: lib, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
