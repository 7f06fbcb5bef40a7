import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { entityId } from '../contacts/contact-schema';
import { enrollmentFields } from './nurture-routes';

const instant = z.string().describe('ISO 8601 with offset');

/** What the /v1/nurture-enrollments routes answer (nurture-routes.ts enrollmentView). */
export const enrollmentViewSchema = z.strictObject({
  id: z.string(),
  tenantId: z.string(),
  sequenceId: z.string(),
  contactId: z.string(),
  leadId: z.string().nullable(),
  status: z.enum(['active', 'completed', 'stopped']),
  stopReason: z.string().nullable().describe('manual, reply or conversion'),
  steps: z.number().int(),
  enrolledAt: instant,
  endsAt: instant.describe('when the last step is due'),
  stoppedAt: instant.nullable(),
});

const params = { id: entityId };
const invalid = { description: 'invalid input: the problem names each field', problem: true };

export const nurtureApiSpec: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/nurture-enrollments',
    operationId: 'enrollContact',
    tag: 'nurture',
    summary: 'Enrols a contact in a nurture sequence: every step is scheduled at its exact time, in one transaction',
    body: { 'application/json': enrollmentFields },
    responses: {
      201: { description: 'enrolled', schema: enrollmentViewSchema },
      400: invalid,
      404: { description: 'the sequence, the contact (in the sequence’s tenant) or the lead is not there (named in errors)', problem: true },
      409: { description: 'already enrolled, no address for the sequence’s channel, or a sequence without steps', problem: true },
    },
  },
  {
    method: 'get',
    path: '/v1/nurture-enrollments/{id}',
    operationId: 'getEnrollment',
    tag: 'nurture',
    summary: 'One enrolment',
    params,
    responses: { 200: { description: 'the enrolment', schema: enrollmentViewSchema }, 400: invalid, 404: { description: 'unknown enrolment', problem: true } },
  },
  {
    method: 'post',
    path: '/v1/nurture-enrollments/{id}/stop',
    operationId: 'stopEnrollment',
    tag: 'nurture',
    summary: 'Stops an enrolment and cancels its steps not yet sent; stopping a stopped one again changes nothing',
    params,
    responses: {
      200: { description: 'stopped', schema: z.strictObject({ enrollment: enrollmentViewSchema, stepsCancelled: z.number().int() }) },
      400: { description: 'a body was sent (this route takes none) or the id is malformed', problem: true },
      404: { description: 'unknown enrolment', problem: true },
      409: { description: 'the enrolment is completed', problem: true },
    },
  },
];
