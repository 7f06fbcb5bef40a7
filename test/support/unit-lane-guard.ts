import net from 'node:net';

/**
 * Loaded before every file of the fast lane (jest.unit.config.js). The lane promises no services,
 * so the service addresses point at a port nobody listens on and any socket or server opened in
 * the lane throws, naming the file that has to move to the full suite.
 */
const closed = '127.0.0.1:1';
process.env.TEST_DATABASE_URL = `postgres://unit-lane@${closed}/none`;
process.env.TEST_REDIS_URL = `redis://${closed}`;
process.env.DATABASE_URL = `postgres://unit-lane@${closed}/none`;
process.env.REDIS_URL = `redis://${closed}`;
process.env.PGHOST = '127.0.0.1';
process.env.PGPORT = '1';

function refuse(what: string): never {
  throw new Error(
    `${what} in the unit lane (${expect.getState().testPath ?? 'a test file'}): a test that needs the network belongs in the full suite, not test/unit-lane.js`,
  );
}

net.Socket.prototype.connect = function connect(): never {
  refuse('a network connection');
} as typeof net.Socket.prototype.connect;
net.Server.prototype.listen = function listen(): never {
  refuse('a listening server');
} as typeof net.Server.prototype.listen;
