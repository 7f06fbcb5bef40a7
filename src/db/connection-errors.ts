/**
 * Errors that say the database cannot be reached right now (down, restarting, failing over, the
 * connection cut), as opposed to errors of the statement itself. The API answers these with 503
 * + Retry-After: the caller should retry, and nothing was written (a transaction that lost its
 * connection is rolled back by the server).
 */

/** Socket-level failures of the connection to the server (Node's err.code). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * PostgreSQL SQLSTATEs of a server going away or not yet back: class 08 (connection exception),
 * 57P01 admin_shutdown (fast/immediate stop, pg_terminate_backend), 57P02 crash_shutdown,
 * 57P03 cannot_connect_now (starting up or in recovery).
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03']);

/** node-postgres reports a connection closed under a client by these messages, without a code. */
const CLIENT_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
];

/**
 * Whether err (or an error it wraps) says the database is unreachable. Duck-typed, not
 * `instanceof Error`: socket errors come from Node's own realm, which a sandbox (vm, jest) does
 * not share.
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const { code, message, errors, cause } = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (typeof message === 'string' && CLIENT_MESSAGES.includes(message)) return true;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  if (Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}
