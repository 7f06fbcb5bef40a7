/** Errors the CRM API maps to HTTP statuses (the app's error handler reads `status`). */
export class NotFoundError extends Error {
  readonly status = 404;
}

/** The request is valid but the record's state does not allow it (e.g. moving a cancelled appointment). */
export class ConflictError extends Error {
  readonly status = 409;
}
