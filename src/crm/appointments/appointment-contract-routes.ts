import { Router } from 'express';
import type { Database } from '../../db/database';
import { parseOrThrow, ProblemError, type FieldProblem, type CallerErrorKind } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { getAppointment, putAppointment, type AppointmentPutOutcome } from './appointment-reminders';
import { appointmentFields, toAppointmentState } from './appointment-schema';
import { appointmentView } from './appointment-view';

const REFUSED: Partial<Record<AppointmentPutOutcome['outcome'], { kind: CallerErrorKind; problem: FieldProblem }>> = {
  'unknown-tenant': { kind: 'invalid-input', problem: { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' } },
  'unknown-contact': { kind: 'invalid-input', problem: { field: 'contactId', message: 'unknown contact in this tenant: PUT /api/v1/contacts/:id first' } },
  'other-tenant': {
    kind: 'conflict',
    problem: { field: 'tenantId', message: 'the appointment belongs to another tenant; appointments do not move between tenants' },
  },
  'other-contact': {
    kind: 'conflict',
    problem: { field: 'contactId', message: 'the appointment belongs to another contact; appointments do not move between contacts' },
  },
};

/**
 * PUT /v1/appointments/:id (idempotent upsert; its reminders are scheduled, moved or cancelled in
 * the same transaction) and GET /v1/appointments/:id. POST /api/appointments and its move, cancel
 * and outcome routes stay as they are: both write through appointment-reminders.ts.
 */
export function appointmentContractRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.put('/v1/appointments/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const result = await putAppointment(deps.db, toAppointmentState(id, parseOrThrow(appointmentFields, req.body ?? {})));
    const refused = REFUSED[result.outcome];
    if (refused) throw new ProblemError(refused.kind, `${refused.problem.field}: ${refused.problem.message}`, [refused.problem]);
    if (result.outcome === 'closed') {
      const message = `the appointment is ${result.status}; a closed appointment does not change any more`;
      throw new ProblemError('conflict', `status: ${message}`, [{ field: 'status', message }]);
    }
    if (!('appointment' in result)) throw new Error(`unexpected outcome ${result.outcome}`);
    res.status(result.outcome === 'created' ? 201 : 200).json({ ...appointmentView(result.appointment), outcome: result.outcome });
  });
  router.get('/v1/appointments/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const appointment = await getAppointment(deps.db, id);
    if (!appointment) throw new ProblemError('not-found', `appointment ${id} not found`);
    res.json(appointmentView(appointment));
  });
  return router;
}
