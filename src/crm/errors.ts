// The CRM modules' caller errors are the shared ones; this file keeps their old import path.
export { ConflictError, NotFoundError } from '../errors/caller-error';
