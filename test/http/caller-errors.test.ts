import express from 'express';
import type { AddressInfo } from 'node:net';
import { ConflictError, NotFoundError } from '../../src/errors/caller-error';
import { IdempotencyKeyConflictError } from '../../src/delivery/key-conflict-error';
import { ValidationError } from '../../src/delivery/validation-error';
import { PROBLEM_CONTENT_TYPE, problemErrorHandler, ProblemError } from '../../src/http/problem';

// Every caller error of every module is answered by the one /v1 handler, by its kind: a route
// throws and never builds an error response itself. Anything else goes on as a bug (500).
describe('the /v1 error handler maps the one caller-error hierarchy', () => {
  let base: string;
  let close: () => Promise<void>;
  const thrown: Record<string, () => unknown> = {
    validation: () =>
      new ValidationError([
        { field: 'recipient', message: 'must be an e-mail address' },
        { field: 'scheduledAt', message: 'required' },
      ]),
    'not-found': () => new NotFoundError('campaign 7 not found'),
    conflict: () => new ConflictError('invoice 3 is paid'),
    key: () => new IdempotencyKeyConflictError([{ tenantId: 't1', idempotencyKey: 'k1' }]),
    problem: () => new ProblemError('not-found', 'message 9 not found'),
    bug: () => new TypeError('x is undefined'),
  };

  beforeAll(async () => {
    const app = express();
    const v1 = express.Router();
    v1.get('/:case', (req) => {
      throw thrown[req.params.case]!();
    });
    v1.use(problemErrorHandler(5));
    app.use('/v1', v1);
    app.use(((_err, _req, res, _next) => void res.status(500).json({ error: 'internal error' })) as express.ErrorRequestHandler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(() => close());

  const get = async (name: string) => {
    const res = await fetch(`${base}/${name}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, unknown> };
  };

  it.each([
    [
      'validation',
      400,
      'urn:crm-worker:problem:invalid-input',
      [
        { field: 'recipient', message: 'must be an e-mail address' },
        { field: 'scheduledAt', message: 'required' },
      ],
    ],
    ['not-found', 404, 'urn:crm-worker:problem:not-found', undefined],
    ['conflict', 409, 'urn:crm-worker:problem:conflict', undefined],
    ['key', 409, 'urn:crm-worker:problem:conflict', [{ field: 'idempotencyKey', message: '"k1" is already used by tenant "t1" for a different message' }]],
    ['problem', 404, 'urn:crm-worker:problem:not-found', undefined],
  ])('%s → %i problem details', async (name, status, type, errors) => {
    const answer = await get(name);
    expect(answer.status).toBe(status);
    expect(answer.type).toContain(PROBLEM_CONTENT_TYPE);
    expect(answer.body).toMatchObject({ type, status });
    expect(typeof answer.body.detail).toBe('string');
    expect(answer.body.errors).toEqual(errors);
  });

  it("leaves an error that is not the caller's to the app (a 500, not a problem of the caller)", async () => {
    const answer = await get('bug');
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: 'internal error' });
  });
});
