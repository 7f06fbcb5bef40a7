import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';
import { pageSchema } from '../../http/pagination';
import { recomputeBody, snapshotListQuery } from './kpi-routes';

const byChannel = z.record(z.string(), z.number().int()).describe('by channel');

/** What the /v1/kpi-snapshots routes answer (kpi-routes.ts snapshotView). */
export const snapshotViewSchema = z.strictObject({
  tenantId: z.string(),
  date: z.string().describe('the local date YYYY-MM-DD in the tenant’s time zone'),
  timezone: z.string(),
  leadsCreated: z.number().int(),
  messagesSent: byChannel,
  messagesFailed: byChannel,
  callsPlaced: z.number().int(),
  callsAnswered: z.number().int(),
  appointmentsKept: z.number().int(),
  paymentsRecovered: z.number().int(),
  paymentsRecoveredCents: z.number().int(),
  computedAt: z.string().describe('ISO 8601 with offset'),
});

export const kpiApiSpec: RouteSpec[] = [
  {
    method: 'get',
    path: '/v1/kpi-snapshots',
    operationId: 'listKpiSnapshots',
    tag: 'kpi',
    summary: "A tenant's daily KPI snapshots in date order, from and to inclusive, a page at a time",
    query: snapshotListQuery,
    responses: {
      200: { description: 'one page', schema: pageSchema(snapshotViewSchema) },
      400: { description: 'invalid input: the problem names each field', problem: true },
    },
  },
  {
    method: 'post',
    path: '/v1/kpi-snapshots/recompute',
    operationId: 'recomputeKpiSnapshot',
    tag: 'kpi',
    summary: "Computes one tenant's KPIs for one local date again and stores them",
    body: { 'application/json': recomputeBody },
    responses: {
      200: { description: 'the snapshot', schema: snapshotViewSchema },
      400: { description: 'invalid input: the problem names each field', problem: true },
      404: { description: 'unknown tenant (named in errors)', problem: true },
    },
  },
];
