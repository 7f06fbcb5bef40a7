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

/**
 * Environment whose wall-clock offset is read from `file` at every clock read (libfaketime
 * FAKETIME_TIMESTAMP_FILE with FAKETIME_NO_CACHE), so a test steps a running process's clock by
 * writing e.g. "-1h" into the file. Monotonic time is left alone. Undefined without libfaketime.
 */
export function steppableClockEnv(file: string, initialOffset = '+0'): Record<string, string> | undefined {
  const lib = CANDIDATES.find((p) => fs.existsSync(p));
  if (!lib) return undefined;
  fs.writeFileSync(file, `${initialOffset}\n`);
  return { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/** Steps the clock of processes started with steppableClockEnv(file) to `offset` ("-1h", "+30s"). */
export function stepClock(file: string, offset: string): void {
  fs.writeFileSync(file, `${offset}\n`);
}

/**
 * Environment whose clock (wall and monotonic, so timers too) starts at `startUtc` and runs at
 * real speed until fastForward(file, …) makes it run faster. The clock spec is read from `file` at
 * every clock read (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE); FAKETIME_XRESET makes the faster
 * rate apply from the change on instead of to all the time since the start. A test can so let a
 * process start at its own pace and speed up only once it is ready: its start-up never eats into
 * the window of fake time the test is about. The run's own FAKETIME (year-ahead) is removed: it
 * would override the file. Undefined without libfaketime.
 */
export function fastForwardableClockEnv(file: string, startUtc: string): Record<string, string | undefined> | undefined {
  // The multi-threaded build: with the spec re-read at every clock read, the single-threaded one
  // stopped both workers answering seconds after the speed-up in one of two runs here (Node reads
  // clocks from several threads); with this one, five runs passed, two of them under CPU load.
  const lib = CANDIDATES.map((p) => p.replace('libfaketime.so.1', 'libfaketimeMT.so.1')).find((p) => fs.existsSync(p));
  if (!lib) return undefined;
  writeClockSpec(file, startUtc, 1);
  return {
    LD_PRELOAD: lib,
    TZ: 'UTC', // how libfaketime reads the start time
    FAKETIME: undefined,
    FAKETIME_DONT_FAKE_MONOTONIC: undefined,
    FAKETIME_TIMESTAMP_FILE: file,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_XRESET: '1',
  };
}

/**
 * Makes the clock of processes started with fastForwardableClockEnv(file, startUtc) run `speed`
 * times faster from now on. libfaketime resets its time base from the last clock read it cached,
 * so the process should read its clock just before (any request to it does): time it has not
 * read for is multiplied too.
 */
export function fastForward(file: string, startUtc: string, speed: number): void {
  writeClockSpec(file, startUtc, speed);
}

function writeClockSpec(file: string, startUtc: string, speed: number): void {
  // Written aside and renamed: a clock read never sees a half-written file.
  const spec = `@${startUtc.replace('T', ' ').replace(/(\.\d+)?Z$/, '')} x${speed}\n`;
  fs.writeFileSync(`${file}.tmp`, spec);
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * The moved clock of a run under scripts/test-year-ahead.sh (LD_PRELOAD, FAKETIME, ...), for a
 * client process a test starts with a clean environment (an example application, a curl script):
 * it must see the same clock as the worker and the database it talks to. Empty otherwise.
 */
export function runClockEnv(): Record<string, string> {
  if (!process.env.FAKETIME) return {};
  const out: Record<string, string> = {};
  for (const name of ['LD_PRELOAD', 'FAKETIME', 'FAKETIME_DONT_FAKE_MONOTONIC']) {
    const value = process.env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
