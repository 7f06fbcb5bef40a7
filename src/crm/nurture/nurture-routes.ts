import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { assertNoBody } from '../../http/no-body';
import { parseOrThrow, ProblemError } from '../../http/problem';
import { entityId } from '../contacts/contact-schema';
import { getLead } from '../leads/lead-store';
import { enrollContact, getEnrollment, stopEnrollmentByHand, type EnrollmentRow } from './nurture';

export const enrollmentFields = z.strictObject({ sequenceId: entityId, contactId: entityId, leadId: entityId.optional() });
const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString());

export function enrollmentView(row: EnrollmentRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    sequenceId: row.sequence_id,
    contactId: row.contact_id,
    leadId: row.lead_id,
    status: row.status,
    stopReason: row.stop_reason,
    steps: Number(row.steps),
    enrolledAt: iso(row.enrolled_at)!,
    endsAt: iso(row.ends_at)!,
    stoppedAt: iso(row.stopped_at ?? null),
  };
}

/**
 * /v1/nurture-enrollments: enrol a contact in a sequence (every step scheduled at once), read one,
 * stop one by hand. The unversioned /api/nurture/enrollments routes stay for one release.
 */
export function nurtureRoutes(deps: { db: Database }): Router {
  const { db } = deps;
  const router = Router();
  router.post('/v1/nurture-enrollments', async (req, res) => {
    const body = parseOrThrow(enrollmentFields, req.body ?? {});
    // A lead that is not there would be a foreign-key failure deep in the insert; name it here.
    if (body.leadId !== undefined && !(await getLead(db, body.leadId))) {
      throw new ProblemError('not-found', `leadId: lead ${body.leadId} not found`, [{ field: 'leadId', message: 'unknown lead' }]);
    }
    res.status(201).json(enrollmentView(await enrollContact(db, body)));
  });
  router.get('/v1/nurture-enrollments/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const enrollment = await getEnrollment(db, id);
    if (!enrollment) throw new ProblemError('not-found', `nurture enrollment ${id} not found`);
    res.json(enrollmentView(enrollment));
  });
  router.post('/v1/nurture-enrollments/:id/stop', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    assertNoBody(req.body);
    const stopped = await stopEnrollmentByHand(db, id);
    res.json({ enrollment: enrollmentView(stopped.enrollment), stepsCancelled: stopped.stepsCancelled });
  });
  return router;
}
