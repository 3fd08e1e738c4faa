import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Keys whose values never reach a log line, wherever they sit in a logged object: registry
 * credentials (dockerode's authconfig, X-Registry-Auth), passwords, tokens, secrets.
 */
export const REDACTED_PATHS = [
  'password', '*.password', '*.*.password', 'authconfig', '*.authconfig', 'auth', '*.auth',
  'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', '*.headers.authorization',
  '*.headers["x-registry-auth"]', 'registryAuth', '*.registryAuth',
];

/** One logger per process, made by its composition root; children carry envId / requestId. */
export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level, name, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
