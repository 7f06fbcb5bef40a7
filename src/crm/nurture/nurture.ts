import type { Database, Queryable } from '../../db/database';
import { cancelMessages, scheduleMessages, type ChannelName } from '../../delivery/outbox';
import { ConflictError, NotFoundError } from '../errors';

export function nurtureStepKey(enrollmentId: string, stepNo: number): string {
  return `nurture:${enrollmentId}:${stepNo}`;
}

export interface EnrollmentRow {
  id: string;
  tenant_id: string;
  sequence_id: string;
  contact_id: string;
  lead_id: string | null;
  status: 'active' | 'completed' | 'stopped';
  stop_reason: string | null;
  steps: number;
  enrolled_at: Date;
  ends_at: Date;
  stopped_at: Date | null;
}

/**
 * Event-driven design: enrolling a contact schedules every step of the sequence at its exact
 * time (enrolment + cumulative delays) in one transaction; stopping cancels the steps not yet
 * sent. The delivery engine also drops a step on reply (stopOnReply) as a second guard; the
 * nurture-sequences job stops enrolments whose contact replied or converted outside the API.
 */
export function enrollContact(db: Database, input: { sequenceId: string; contactId: string; leadId?: string | undefined }): Promise<EnrollmentRow> {
  return db.transaction(async (tx) => {
    const sequence = (
      await tx.query<{ id: string; tenant_id: string; channel: ChannelName }>('SELECT id, tenant_id, channel FROM nurture_sequences WHERE id = $1', [
        input.sequenceId,
      ])
    ).rows[0];
    if (!sequence)
      throw new NotFoundError(`sequenceId: nurture sequence ${input.sequenceId} not found`, [{ field: 'sequenceId', message: 'unknown nurture sequence' }]);
    const contact = (
      await tx.query<{ name: string | null; email: string | null; phone: string | null; whatsapp: string | null }>(
        'SELECT name, email, phone, whatsapp FROM contacts WHERE id = $1 AND tenant_id = $2',
        [input.contactId, sequence.tenant_id],
      )
    ).rows[0];
    if (!contact)
      throw new NotFoundError(`contactId: contact ${input.contactId} not found for the sequence's tenant`, [
        { field: 'contactId', message: "unknown contact in the sequence's tenant" },
      ]);
    const address = sequence.channel === 'email' ? contact.email : sequence.channel === 'whatsapp' ? (contact.whatsapp ?? contact.phone) : contact.phone;
    if (!address)
      throw new ConflictError(`contactId: contact ${input.contactId} has no address for ${sequence.channel}`, [
        { field: 'contactId', message: `has no address for ${sequence.channel}` },
      ]);
    const steps = (
      await tx.query<{ step_no: number; delay_minutes: number; subject: string | null; template: string }>(
        'SELECT step_no, delay_minutes, subject, template FROM nurture_steps WHERE sequence_id = $1 ORDER BY step_no',
        [input.sequenceId],
      )
    ).rows;
    if (steps.length === 0)
      throw new ConflictError(`sequenceId: nurture sequence ${input.sequenceId} has no steps`, [{ field: 'sequenceId', message: 'has no steps' }]);

    const enrolledAt = new Date();
    let at = enrolledAt.getTime();
    const times = steps.map((s) => (at += s.delay_minutes * 60_000));
    const inserted = await tx.query<EnrollmentRow>(
      `INSERT INTO nurture_enrollments (tenant_id, sequence_id, contact_id, lead_id, steps, enrolled_at, ends_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (sequence_id, contact_id) DO NOTHING RETURNING *`,
      [sequence.tenant_id, input.sequenceId, input.contactId, input.leadId ?? null, steps.length, enrolledAt, new Date(at)],
    );
    const enrollment = inserted.rows[0];
    if (!enrollment)
      throw new ConflictError(`contactId: contact ${input.contactId} is already enrolled in sequence ${input.sequenceId}`, [
        { field: 'contactId', message: 'is already enrolled in this sequence' },
      ]);
    await scheduleMessages(
      tx,
      steps.map((s, i) => ({
        tenantId: sequence.tenant_id,
        contactId: input.contactId,
        leadId: input.leadId ?? null,
        channel: sequence.channel,
        recipient: address,
        scheduledAt: new Date(times[i]!),
        template: s.template,
        ...(s.subject ? { subject: s.subject } : {}),
        variables: { contact: { id: input.contactId, name: contact.name }, step: s.step_no, steps: steps.length },
        type: 'nurture',
        idempotencyKey: nurtureStepKey(enrollment.id, s.step_no),
        stopOnReply: true,
      })),
    );
    return enrollment;
  });
}

/** Stops an active enrolment and cancels its steps not yet sent; returns how many were cancelled. */
export async function stopEnrollment(tx: Queryable, enrollmentId: string, reason: string): Promise<number> {
  const stopped = await tx.query<{ steps: number }>(
    `UPDATE nurture_enrollments SET status = 'stopped', stop_reason = $2, stopped_at = now()
      WHERE id = $1 AND status = 'active' RETURNING steps`,
    [enrollmentId, reason],
  );
  const row = stopped.rows[0];
  if (!row) return 0;
  const keys = Array.from({ length: row.steps }, (_, i) => nurtureStepKey(enrollmentId, i + 1));
  return cancelMessages(tx, keys);
}

/** Stops every active enrolment of a contact (a reply) or of a lead (a conversion). */
export async function stopEnrollmentsOf(tx: Queryable, who: { contactId: string } | { leadId: string }, reason: 'reply' | 'conversion'): Promise<number> {
  const ids = await tx.query<{ id: string }>(
    'contactId' in who
      ? `SELECT id FROM nurture_enrollments WHERE contact_id = $1 AND status = 'active'`
      : `SELECT id FROM nurture_enrollments WHERE lead_id = $1 AND status = 'active'`,
    ['contactId' in who ? who.contactId : who.leadId],
  );
  let cancelled = 0;
  for (const { id } of ids.rows) cancelled += await stopEnrollment(tx, id, reason);
  return cancelled;
}

export async function getEnrollment(db: Queryable, id: string): Promise<EnrollmentRow | undefined> {
  return (await db.query<EnrollmentRow>('SELECT * FROM nurture_enrollments WHERE id = $1', [id])).rows[0];
}

/**
 * Stops one enrolment by hand (POST /v1/nurture-enrollments/:id/stop): its steps not yet sent
 * are cancelled. Stopping a stopped one again changes nothing; a completed one cannot be stopped.
 */
export function stopEnrollmentByHand(db: Database, id: string): Promise<{ enrollment: EnrollmentRow; stepsCancelled: number }> {
  return db.transaction(async (tx) => {
    const current = (await tx.query<EnrollmentRow>('SELECT * FROM nurture_enrollments WHERE id = $1 FOR UPDATE', [id])).rows[0];
    if (!current) throw new NotFoundError(`nurture enrollment ${id} not found`);
    if (current.status === 'completed')
      throw new ConflictError(`nurture enrollment ${id} is completed`, [
        { field: 'status', message: 'is completed; only an active enrollment can be stopped' },
      ]);
    const stepsCancelled = await stopEnrollment(tx, id, 'manual');
    return { enrollment: (await getEnrollment(tx, id))!, stepsCancelled };
  });
}
