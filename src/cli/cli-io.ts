import winston from 'winston';
import { ConfigError, loadConfig, secretValuesOf, type Config } from '../config/config';
import { createLogger, type Logger } from '../logging/logger';

/** A command's failure with the exit code to use; the message is printed as is. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** The worker's config, read from the same environment variables (exit 78 on a bad value). */
export function cliConfig(env: NodeJS.ProcessEnv, instanceId: string): Config {
  try {
    return loadConfig({ ...env, INSTANCE_ID: instanceId });
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new CliError(err.problems.map((p) => `config error: ${p.variable}: ${p.message}`).join('\n'), 78);
    }
    throw err;
  }
}

/** The production logger (same redaction), writing to stderr so stdout stays the command's output. */
export function cliLogger(config: Config): Logger {
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', instanceId: config.instanceId, secrets: secretValuesOf(config) });
  logger.clear();
  logger.add(new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] }));
  return logger;
}
