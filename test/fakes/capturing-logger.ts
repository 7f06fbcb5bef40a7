import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, type Logger } from '../../src/logging/logger';

/**
 * The production logger (same format chain, so the same redaction) writing its JSON lines into
 * an array instead of stdout, for tests that assert what reaches the logs.
 */
export function createCapturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', instanceId: 'test' });
  logger.clear();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8').trim());
      done();
    },
  });
  logger.add(new winston.transports.Stream({ stream: sink }));
  return { logger, lines };
}
