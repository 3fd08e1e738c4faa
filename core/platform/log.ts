import pino from 'pino';
import pretty from 'pino-pretty';

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

export interface LogOptions {
  /** `pretty` for people at a terminal (LOG_FORMAT=pretty, or NODE_ENV=development); JSON otherwise. */
  format?: 'json' | 'pretty';
  /** Where lines go (stdout by default); tests pass a stream to read the JSON lines back. */
  destination?: pino.DestinationStream;
}

/**
 * One logger per process, made by its composition root. Lines about an environment carry
 * `envId` and lines about a request carry `requestId`: handlers log through child loggers
 * (`logger.child({ envId })`), so a field is never forgotten on one line.
 */
export function createLogger(level: string, name: string, opts: LogOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level, name, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (opts.format === 'pretty') {
    // pino-pretty as a stream in this thread: no transport worker, lines in order with the process's own output.
    return pino(options, pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: opts.destination as NodeJS.WritableStream | undefined }));
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
