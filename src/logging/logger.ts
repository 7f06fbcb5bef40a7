import winston from 'winston';
import { redactField } from './redact';

export type Logger = winston.Logger;

// winston keeps level and message under string keys and its own state under symbols; copying
// only the string keys through redactValue keeps the symbols intact.
const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key !== 'level') info[key] = redactField(key, info[key]);
  }
  return info;
});

/** JSON lines on stdout; every line carries the instance, child loggers add job and run ids. */
export function createLogger(options: { level: string; instanceId: string; silent?: boolean }): Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { service: 'crm-worker', instance: options.instanceId },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      redact(),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
