import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Router } from 'express';
import { contactApiSpec } from '../../src/crm/contacts/contact-api-spec';
import { dataContractApiSpec, dataContractRoutes } from '../../src/crm/contacts/contract-router';
import { tenantApiSpec } from '../../src/crm/tenants/tenant-api-spec';
import type { Database } from '../../src/db/database';
import type { FollowUpService } from '../../src/delivery/followup-service';
import type { DeliveryConfig } from '../../src/config/config';
import { deliveryApiRoutes, deliveryApiSpec } from '../../src/delivery/v1/delivery-api';
import { callApiSpec } from '../../src/calls/call-api-spec';
import { v1CallRoutes } from '../../src/calls/v1-call-routes';
import { crmV1ApiSpec, crmV1Routes } from '../../src/crm/http/crm-v1-router';
import type { TemplateEngine } from '../../src/templates/template-engine';
import { jobsApiSpec } from '../../src/http/jobs-api-spec';
import { v1JobsRoutes } from '../../src/http/v1-jobs-routes';
import { useProcessFixture } from '../support/process-fixture';
import { REPO_ROOT, waitUntilStarted } from '../support/worker-process';
import { createResponseValidator } from '../support/openapi-validator';
import { twilioInboundApiSpec } from '../../src/crm/inbound/twilio-inbound-api-spec';
import { twilioInboundRoutes } from '../../src/crm/inbound/twilio-inbound-routes';
import { unsubscribeApiSpec } from '../../src/delivery/v1/unsubscribe-api-spec';
import { unsubscribeRoutes } from '../../src/delivery/v1/unsubscribe-routes';
import type { Logger } from '../../src/logging/logger';

const run = promisify(execFile);

/** Every route of an express router and its sub-routers: "PUT /v1/contacts/:id". */
function routesOf(router: Router): string[] {
  const out: string[] = [];
  for (const layer of (router as unknown as { stack: any[] }).stack) {
    if (layer.route) for (const method of Object.keys(layer.route.methods)) out.push(`${method.toUpperCase()} ${layer.route.path}`);
    else if (layer.handle?.stack) out.push(...routesOf(layer.handle));
  }
  return out;
}

/**
 * /api/v1/openapi.json: generated from the zod schemas the routes validate with, served without
 * the API key, passing a maintained OpenAPI linter (Redocly CLI), and naming every /v1 route. The
 * contract tests check each real answer against it (test/crm-contract, createResponseValidator).
 */
describe('the OpenAPI document of /api/v1', () => {
  const fixture = useProcessFixture();

  it('is served without the API key and passes the Redocly linter with no error', async () => {
    const worker = fixture.spawn('openapi', { ...fixture.serviceEnv(), JOBS_ENABLED: 'false', API_KEY: 'openapi-test-key-0123456789' });
    await waitUntilStarted(worker);
    const response = await worker.get('/api/v1/openapi.json');
    expect(response.status).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/contacts/{id}', '/v1/tenants/{id}', '/v1/contacts/import']));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-openapi-'));
    try {
      const file = path.join(dir, 'openapi.json');
      fs.writeFileSync(file, JSON.stringify(doc));
      const lint = await run(path.join(REPO_ROOT, 'node_modules', '.bin', 'redocly'), ['lint', file, '--format=json'], { cwd: dir }).catch(
        (err: { stdout?: string; stderr?: string; message: string }) => {
          throw new Error(`redocly lint failed: ${err.stdout ?? ''}${err.stderr ?? ''}${err.message}`);
        },
      );
      const report = JSON.parse(lint.stdout) as { totals: { errors: number; warnings: number }; problems: Array<{ severity: string; message: string }> };
      expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(report.totals.errors).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents every /v1 route there is, and no route that is not there', () => {
    // The routers are only walked, never called: no database is needed.
    const routers = [
      dataContractRoutes({ db: {} as Database, dunningReminderDays: [] }),
      deliveryApiRoutes({
        service: {} as FollowUpService,
        validation: {},
        db: {} as Database,
        config: {} as DeliveryConfig,
        workerHealth: async () => ({}) as never,
      }),
      crmV1Routes({ db: {} as Database, templates: {} as TemplateEngine }),
      v1CallRoutes({ db: {} as Database, defaults: { maxAttempts: 1, retrySpacingSeconds: 1 } }),
      v1JobsRoutes({ scheduler: { jobs: () => [], nextRun: () => null }, lockKeyOf: String, runsPageOf: async () => [] }),
      // The public routes (no API key, signed) are documented too.
      twilioInboundRoutes({ db: {} as Database, logger: { child: () => ({}) } as unknown as Logger, authToken: undefined, publicBaseUrl: undefined }),
      unsubscribeRoutes({ db: {} as Database, links: undefined }),
    ];
    const routes = routers.flatMap(routesOf).filter((r) => /^\/v1(\/|$)/.test(r.split(' ')[1]!));
    const documented = [
      ...dataContractApiSpec,
      ...deliveryApiSpec,
      ...crmV1ApiSpec,
      ...callApiSpec,
      ...jobsApiSpec,
      ...twilioInboundApiSpec,
      ...unsubscribeApiSpec,
    ].map((s) => `${s.method.toUpperCase()} ${s.path.replace(/\{([^}]+)\}/g, ':$1')}`);
    expect(routes.sort()).toEqual(documented.sort());
  });

  it('the response validator refuses an answer that differs from the document', () => {
    const doc = JSON.parse(JSON.stringify(require('../../src/http/openapi/openapi-document').buildOpenApiDocument([...tenantApiSpec, ...contactApiSpec], '1')));
    const validator = createResponseValidator(doc);
    const contact = {
      id: 'c1',
      tenantId: 't1',
      name: null,
      email: null,
      phone: null,
      whatsapp: null,
      timezone: null,
      tags: [],
      attributes: {},
      consent: {},
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(() => validator.check('GET', '/v1/contacts/c1', 200, 'application/json; charset=utf-8', contact)).not.toThrow();
    expect(() => validator.check('GET', '/v1/contacts/c1', 200, 'application/json', { ...contact, tags: 'vip' })).toThrow(/does not match/);
    expect(() => validator.check('GET', '/v1/contacts/c1', 200, 'application/json', { ...contact, extra: 1 })).toThrow(/does not match/);
    expect(() => validator.check('GET', '/v1/contacts/c1', 418, 'application/json', {})).toThrow(/418 is not documented/);
    expect(() => validator.check('GET', '/v1/contacts/c1', 404, 'application/json', {})).toThrow(/content type/);
    expect(() => validator.check('GET', '/v1/contacts/c1', 404, 'application/problem+json', { type: 'x', title: 'y', status: 404, detail: 'z' })).not.toThrow();
    expect(() => validator.check('GET', '/v1/nothing', 200, 'application/json', {})).toThrow(/not in the OpenAPI document/);
  });
});
