import pino from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

/**
 * Keys whose values never reach a log line: registry credentials (dockerode's authconfig,
 * X-Registry-Auth), passwords, tokens, secrets. pino's own redaction (these paths) takes the
 * common places cheaply; `scrubLogLine` below then catches them at any depth, and credentials
 * inside strings, on the finished line.
 */
export const REDACTED_PATHS = [
  'password', '*.password', '*.*.password', 'authconfig', '*.authconfig', 'auth', '*.auth',
  'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', '*.headers.authorization',
  '*.headers["x-registry-auth"]', 'registryAuth', '*.registryAuth',
];

export const CENSOR = '[redacted]';

/** A key whose value is a secret, wherever it sits: exact names, and names ending like one (sessionSecret, githubToken). */
const SECRET_KEY = new RegExp([
  '^(?:passwd|pwd|auth|authorization|proxy-authorization|authconfig|cookie|set-cookie|x-registry-auth|x-mayfly-internal-secret',
  '|x-api-key|api[-_]?key|private[-_]?key|client[-_]?secret|credentials?|signing[-_]?secret|session[-_]?id)$',
  '|(?:password|secret|token|tokens|registryauth)$',
].join(''), 'i');

/** A line holding none of these has nothing to scrub (the common case: it is written as it is). */
const SUSPECT = /pass|pwd|secret|token|auth|cookie|api.?key|private.?key|credential|session.?id|bearer|basic|:\/\/[^/\s"@]*:[^/\s"@]*@/i;

/** Credentials inside text: a URL's password (postgres://user:pw@host), a bearer token, key=value forms. */
export function scrubText(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@"]*):([^/\s@"]+)@/gi, `$1:${CENSOR}@`)
    .replace(/\b(Bearer)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${CENSOR}`)
    .replace(/\bBasic\s+[A-Za-z0-9+/]{6,}={0,2}/g, `Basic ${CENSOR}`)
    .replace(/\b(password|passwd|pwd|secret|token)=([^\s&;,"']+)/gi, `$1=${CENSOR}`);
}

function scrub(value: unknown): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (Array.isArray(value)) return value.map(scrub);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      obj[key] = SECRET_KEY.test(key) && obj[key] !== null && obj[key] !== undefined ? CENSOR : scrub(obj[key]);
    }
  }
  return value;
}

/**
 * The finished JSON line with every secret replaced, at any depth: values under secret-looking
 * keys, and credentials inside strings. Same fields in the same order, only values censored.
 */
export function scrubLogLine(line: string): string {
  if (!SUSPECT.test(line)) return line;
  const body = line.trimEnd();
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return scrubText(line);
  }
  return JSON.stringify(scrub(parsed)) + line.slice(body.length);
}

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
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    // Every line, before it is written (pretty or JSON): secrets at any depth (pino's paths stop at the depth they name).
    hooks: { streamWrite: scrubLogLine },
  };
  if (opts.format === 'pretty') {
    // pino-pretty as a stream in this thread: no transport worker, lines in order with the process's own output.
    return pino(options, pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: opts.destination as NodeJS.WritableStream | undefined }));
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
