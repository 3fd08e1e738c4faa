import pino from 'pino';

export type Logger = pino.Logger;

/** One logger per process, made by its composition root; children carry envId / requestId. */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
