/**
 * One place where personal data and secrets are taken out of log records. Values under secret
 * keys are dropped whole; e-mail addresses, phone numbers and credentials inside any string are
 * masked wherever they appear, because messages and error texts quote user input.
 */
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie|signature/i;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// E.164 (+14155550100) and formatted North-American numbers; bare digit runs are left alone
// because ids and timestamps look the same.
const PHONE = /(?<![\w+])\+\d[\d ]{6,17}\d(?!\d)|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b/g;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+(:[^/\s@]*)?@/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const OPENAI_KEY = /\bsk-[A-Za-z0-9_-]{8,}/g;

export function redactText(text: string): string {
  return text
    .replace(URL_CREDENTIALS, '$1[REDACTED]@')
    .replace(BEARER, '$1 [REDACTED]')
    .replace(OPENAI_KEY, '[REDACTED]')
    .replace(EMAIL, '[email]')
    .replace(PHONE, '[phone]');
}

export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (value instanceof Error) {
    return { name: value.name, message: redactText(value.message), stack: value.stack && redactText(value.stack) };
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = redactField(key, inner, depth + 1);
  return out;
}

/** A value as it may be logged under its key: dropped whole under a secret key, else masked. */
export function redactField(key: string, value: unknown, depth = 0): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null) return '[REDACTED]';
  return redactValue(value, depth);
}
