import winston from 'winston';
import { createRedactor, type Redactor } from './redact';

export type Logger = winston.Logger;

// winston keeps level and message under string keys and its own state under symbols; copying
// only the string keys through redactValue keeps the symbols intact.
const redact = (redactor: Redactor) =>
  winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (key !== 'level') info[key] = redactor.field(key, info[key]);
    }
    return info;
  })();

/**
 * JSON lines on stdout; every line carries the instance, child loggers add job and run ids.
 * `secrets` (the configured API key, tokens, passwords) are masked by value in every line.
 */
export function createLogger(options: { level: string; instanceId: string; silent?: boolean; secrets?: readonly (string | undefined)[] }): Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { service: 'crm-worker', instance: options.instanceId },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      redact(createRedactor(options.secrets)),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
