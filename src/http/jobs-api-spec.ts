import { z } from 'zod';
import { pageQueryFields, pageSchema } from './pagination';
import type { RouteSpec } from './openapi/route-spec';

const instant = z.string().describe('ISO 8601 with offset');
const RUN_OUTCOMES = ['running', 'succeeded', 'failed', 'aborted', 'lease-lost', 'abandoned'] as const;

/** GET /v1/jobs: every job this process schedules, by name. */
export const jobsQuery = z.strictObject({ ...pageQueryFields });
/** GET /v1/jobs/{name}/runs: newest fire time first. */
export const runsQuery = z.strictObject({ ...pageQueryFields });
export const jobNameParam = z.string().min(1).max(200);

export const jobViewSchema = z.strictObject({
  name: z.string(),
  description: z.string(),
  schedule: z.string().describe('cron expression'),
  lockKey: z.string().describe('the Redis lease key of the job'),
  running: z.boolean().describe('whether this process is running a tick of it now'),
  lastRunAt: instant.nullable().describe('when this process last started a tick'),
  lastOutcome: z.enum(RUN_OUTCOMES).nullable(),
  nextRunAt: instant.nullable(),
});

export const jobRunViewSchema = z.strictObject({
  id: z.string(),
  job: z.string(),
  fireTime: instant.describe('the scheduled fire time of the tick (one run per job and fire time, across replicas)'),
  trigger: z.enum(['schedule', 'manual']),
  instance: z.string(),
  runId: z.string(),
  leaseEpoch: z.number().int(),
  startedAt: instant,
  finishedAt: instant.nullable(),
  outcome: z.enum(RUN_OUTCOMES),
  items: z.number().int(),
  error: z.string().nullable(),
});

const invalid = { description: 'invalid input: the problem names each field', problem: true };

/** The scheduler's routes under /api/v1: the HTTP app adds these to the modules' specs. */
export const jobsApiSpec: RouteSpec[] = [
  {
    method: 'get',
    path: '/v1/jobs',
    operationId: 'listJobs',
    tag: 'jobs',
    summary: 'The jobs this process schedules, by name: schedule, lease key, last and next run',
    query: jobsQuery,
    responses: { 200: { description: 'one page', schema: pageSchema(jobViewSchema) }, 400: invalid },
  },
  {
    method: 'get',
    path: '/v1/jobs/{name}/runs',
    operationId: 'listJobRuns',
    tag: 'jobs',
    summary: "A job's recorded runs (by every replica), newest fire time first, a page at a time",
    params: { name: jobNameParam },
    query: runsQuery,
    responses: { 200: { description: 'one page', schema: pageSchema(jobRunViewSchema) }, 400: invalid, 404: { description: 'unknown job', problem: true } },
  },
];
