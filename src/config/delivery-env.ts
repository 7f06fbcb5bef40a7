/**
 * Parsers for the delivery engine's list-valued variables. Each returns the parsed value or a
 * message saying what is wrong with which entry, so config problems name the bad entry.
 */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3_600, d: 86_400 };

/** "30m", "2h", "1d", "45s" or plain seconds ("120") → seconds (the FOLLOWUP_SCHEDULES format). */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$/i.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's').toLowerCase()]!;
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds) : undefined;
}

/** "30m,2h" → [1800, 7200]; an empty list is allowed (no automatic follow-ups). */
export function parseSchedules(text: string): { value: number[] } | { problem: string } {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const value: number[] = [];
  for (const entry of entries) {
    const seconds = parseDurationSeconds(entry);
    if (seconds === undefined) return { problem: `"${entry}" is not a delay (use 30m, 2h, 1d or seconds)` };
    value.push(seconds);
  }
  return { value };
}

export interface RateLimit {
  points: number;
  durationSeconds: number;
}

/** "sms=10/1m,whatsapp=20/1m" → per-channel limits; "none" or "" → no limits. */
export function parseRateLimits(text: string, channels: readonly string[]): { value: Record<string, RateLimit> } | { problem: string } {
  const value: Record<string, RateLimit> = {};
  if (text.trim() === '' || text.trim() === 'none') return { value };
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const match = /^([a-z]+)\s*=\s*(\d+)\s*\/\s*(\S+)$/i.exec(entry);
    const seconds = match ? parseDurationSeconds(/^\d/.test(match[3]!) ? match[3]! : `1${match[3]}`) : undefined;
    if (!match || seconds === undefined || Number(match[2]) < 1) {
      return { problem: `"${entry}" is not channel=count/period (e.g. sms=10/1m)` };
    }
    if (!channels.includes(match[1]!.toLowerCase())) return { problem: `"${match[1]}" is not a channel (${channels.join(', ')})` };
    value[match[1]!.toLowerCase()] = { points: Number(match[2]), durationSeconds: seconds };
  }
  return { value };
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
}

/** "campaign=5:60s,dunning=3:5m" → retry policy per message type (attempts : first backoff). */
export function parseRetryPolicies(text: string): { value: Record<string, RetryPolicy> } | { problem: string } {
  const value: Record<string, RetryPolicy> = {};
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const match = /^([a-z0-9_-]+)\s*=\s*(\d+)\s*:\s*(\S+)$/i.exec(entry);
    const seconds = match ? parseDurationSeconds(match[3]!) : undefined;
    const attempts = match ? Number(match[2]) : 0;
    if (!match || seconds === undefined || attempts < 1 || attempts > 100) {
      return { problem: `"${entry}" is not type=attempts:backoff (e.g. campaign=5:30s, attempts 1-100)` };
    }
    value[match[1]!] = { maxAttempts: attempts, baseDelayMs: seconds * 1000 };
  }
  return { value };
}

/** "n8n=https://n8n.example/webhook/x,crm=https://..." → target name → URL. */
export function parseWebhookTargets(text: string): { value: Record<string, string> } | { problem: string } {
  const value: Record<string, string> = {};
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq).trim();
    const target = entry.slice(eq + 1).trim();
    if (eq < 1 || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) return { problem: `"${name || entry}" is not a target name (name=url)` };
    let parsed: URL;
    try {
      parsed = new URL(target);
    } catch {
      return { problem: `target "${name}" has no valid URL` };
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { problem: `target "${name}" must be http(s)` };
    value[name] = target;
  }
  return { value };
}
