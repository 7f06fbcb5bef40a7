/**
 * One place where personal data and secrets are taken out of log records. Values under secret
 * keys are dropped whole; e-mail addresses, phone numbers and credentials inside any string are
 * masked wherever they appear, because messages and error texts quote user input. The worker's
 * own secrets (API_KEY, tokens, passwords: see secretValuesOf in config) are masked by value too,
 * since an error text or a quoted request can carry them under no recognisable key.
 */
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie|signature/i;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// E.164 (+14155550100) and formatted North-American numbers; bare digit runs are left alone
// because ids and timestamps look the same.
const PHONE = /(?<![\w+])\+\d[\d ]{6,17}\d(?!\d)|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b/g;
// The user part may be empty: redis://:password@host is how Redis URLs carry a password alone.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]*(:[^/\s@]*)?@/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const OPENAI_KEY = /\bsk-[A-Za-z0-9_-]{8,}/g;
// password=…, pwd: …, "apiKey":"…", x-api-key: …, token=… inside free text (query strings,
// connection strings, quoted JSON, header dumps). The value ends at a quote, space or separator.
const KEY_VALUE =
  /\b((?:[a-z]+[-_])?(?:pass(?:word)?|pwd|secret|token|api[-_]?key|apikey|auth[-_]?token|access[-_]?key))(["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s"'&,;)}\]]+)/gi;

/** Known secrets shorter than this are not masked by value: short words would mask ordinary text. */
const MIN_KNOWN_SECRET_LENGTH = 8;

export interface Redactor {
  text(text: string): string;
  value(value: unknown, depth?: number): unknown;
  /** A value as it may be logged under its key: dropped whole under a secret key, else masked. */
  field(key: string, value: unknown, depth?: number): unknown;
}

/** A redactor that also masks the given secret values wherever they appear. */
export function createRedactor(knownSecrets: readonly (string | undefined)[] = []): Redactor {
  const secrets = [...new Set(knownSecrets.filter((s): s is string => !!s && s.length >= MIN_KNOWN_SECRET_LENGTH))]
    // Longest first, so a secret that contains another is masked whole.
    .sort((a, b) => b.length - a.length);
  const text = (input: string): string => {
    let out = input;
    for (const secret of secrets) out = out.split(secret).join('[REDACTED]');
    return out
      .replace(URL_CREDENTIALS, '$1[REDACTED]@')
      .replace(BEARER, '$1 [REDACTED]')
      .replace(OPENAI_KEY, '[REDACTED]')
      .replace(KEY_VALUE, (_m, key: string, sep: string, val: string) => `${key}${sep}${/^["']/.test(val) ? val[0] + '[REDACTED]' + val[0] : '[REDACTED]'}`)
      .replace(EMAIL, '[email]')
      .replace(PHONE, '[phone]');
  };
  const value = (input: unknown, depth = 0): unknown => {
    if (typeof input === 'string') return text(input);
    if (depth > 6 || input === null || typeof input !== 'object') return input;
    if (input instanceof Date) return input;
    if (input instanceof Error) {
      return { name: input.name, message: text(input.message), stack: input.stack && text(input.stack) };
    }
    if (Array.isArray(input)) return input.map((v) => value(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(input)) out[key] = field(key, inner, depth + 1);
    return out;
  };
  const field = (key: string, input: unknown, depth = 0): unknown => {
    if (SECRET_KEY.test(key) && input !== undefined && input !== null) return '[REDACTED]';
    return value(input, depth);
  };
  return { text, value, field };
}

// The patterns alone, for callers that know no secret values (a pure, stateless default).
const patternsOnly = createRedactor();
export const redactText = patternsOnly.text;
export const redactValue = patternsOnly.value;
export const redactField = patternsOnly.field;
