import type { Queryable } from '../db/database';
import { ConflictError, NotFoundError } from '../errors/caller-error';
import type { CallOutcomeBody } from './call-schemas';
import { cancelQueuedCall, endUnansweredAttempt, getCall, recordCallAnswered, type CallRow } from './call-store';

/**
 * What the telephony side reports about a placed call, applied to the attempt it is about: an
 * unknown call is a NotFoundError, a call not awaiting this outcome (or a report about an earlier
 * attempt, or one that raced another report) a ConflictError naming the field. Shared by
 * POST /api/calls/:id/outcome and POST /api/v1/calls/:id/outcome.
 */
export async function reportCallOutcome(db: Queryable, id: string, body: CallOutcomeBody, defaults: { retrySpacingSeconds: number }): Promise<CallRow> {
  const call = await getCall(db, id);
  if (!call) throw new NotFoundError(`call ${id} not found`);
  const awaiting = call.status === 'dialing' || (call.status === 'in-progress' && body.outcome !== 'answered');
  if (!awaiting) throw conflict('status', `call ${call.id} is ${call.status}, not awaiting an outcome`);
  if (body.attempt !== undefined && body.attempt !== call.attempts) {
    throw conflict('attempt', `call ${call.id} is on attempt ${call.attempts}, not ${body.attempt}`);
  }
  const attempt = { id: call.id, attempt: call.attempts };
  let changed: boolean;
  if (body.outcome === 'answered' || body.outcome === 'completed') {
    const status = body.outcome === 'answered' ? 'in-progress' : 'completed';
    changed = await recordCallAnswered(db, attempt, { status, outcome: body.outcome, providerCallId: body.providerCallId ?? null });
  } else {
    const ended = await endUnansweredAttempt(db, attempt, {
      status: body.outcome,
      outcome: body.outcome,
      error: body.detail ?? null,
      // A failed call (bad number, carrier refusal) is not worth another ring.
      retry: body.outcome !== 'failed',
      now: null,
      defaultSpacingSeconds: defaults.retrySpacingSeconds,
    });
    changed = ended !== 'stale';
  }
  if (!changed) throw conflict('status', `call ${call.id} changed meanwhile; read it again`);
  return (await getCall(db, call.id))!;
}

/** Cancels a queued call; unknown is NotFoundError, any other status a ConflictError. */
export async function cancelCall(db: Queryable, id: string): Promise<CallRow> {
  const cancelled = await cancelQueuedCall(db, id);
  const call = await getCall(db, id);
  if (!call) throw new NotFoundError(`call ${id} not found`);
  if (!cancelled) throw conflict('status', `call ${call.id} is ${call.status}; only queued calls can be cancelled`);
  return call;
}

function conflict(field: string, message: string): ConflictError {
  return new ConflictError(`${field}: ${message}`, [{ field, message }]);
}
