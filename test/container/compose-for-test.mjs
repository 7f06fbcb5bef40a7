// Writes the compose file scripts/container-test.sh brings up: docker-compose.stateless.yml with
// only what this machine needs changed, each change printed so the run's log shows all of them.
//   * postgres and redis use the local stand-in images (no Docker Hub here);
//   * the worker's port is published on loopback at a free port (3002 may be a test's);
//   * the build context is the repository's absolute path (the file is written elsewhere);
//   * ${NAME:-} (empty default) becomes ${NAME}, the same meaning: podman-compose 1.0.3's pattern
//     needs a non-empty default and passed "${API_KEY:-}" to the worker literally.
// Everything else (container names, environment, health checks, volumes, restart policy) is the
// production file's own. Usage: node compose-for-test.mjs <out> <postgres image> <redis image> <port>
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const [out, postgresImage, redisImage, hostPort] = process.argv.slice(2);
if (!out || !postgresImage || !redisImage || !/^\d+$/.test(hostPort ?? '')) {
  console.error('usage: compose-for-test.mjs <out> <postgres image> <redis image> <host port>');
  process.exit(2);
}
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const compose = parse(fs.readFileSync(path.join(repo, 'docker-compose.stateless.yml'), 'utf8'));
const { worker, postgres, redis } = compose.services;
const change = (what, from, to) => console.log(`[container-test] compose: ${what}: ${JSON.stringify(from)} -> ${JSON.stringify(to)}`);

change('postgres.image', postgres.image, postgresImage);
postgres.image = postgresImage;
change('redis.image', redis.image, redisImage);
redis.image = redisImage;
const ports = [`127.0.0.1:${hostPort}:3002`];
change('worker.ports', worker.ports, ports);
worker.ports = ports;
change('worker.build.context', worker.build.context, repo);
worker.build.context = repo;

// JSON is YAML too, and leaves nothing to podman-compose's YAML 1.1 reading (an unquoted yes
// written back by a YAML 1.2 printer becomes a boolean there: redis-server --appendonly True).
for (const [name, value] of Object.entries(worker.environment)) {
  if (typeof value !== 'string' || !value.includes(':-}')) continue;
  const plain = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*):-\}/g, '${$1}');
  change(`worker.environment.${name}`, value, plain);
  worker.environment[name] = plain;
}

fs.writeFileSync(out, JSON.stringify(compose, null, 2));
