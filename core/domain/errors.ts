/**
 * Mayfly's errors. Each has a stable `code` that clients and jobs branch on, an HTTP status that
 * the API's one error middleware uses, and optional `details` (for input errors: which field, why).
 */
export interface FieldProblem {
  field: string;
  message: string;
}

export class MayflyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;
  /** When set, the API answers with a `Retry-After` header of this many seconds. */
  readonly retryAfterSeconds?: number;

  constructor(code: string, status: number, message: string, options: { details?: unknown; cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = options.details;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The request is malformed; `details` lists every offending field. */
export class InputError extends MayflyError {
  constructor(message: string, problems: FieldProblem[] = [], code = 'INVALID_REQUEST') {
    super(code, 400, message, { details: problems.length ? problems : undefined });
  }
  get problems(): FieldProblem[] {
    return (this.details as FieldProblem[] | undefined) ?? [];
  }
}

export class AuthError extends MayflyError {
  constructor(message = 'a valid API token is required: send "Authorization: Bearer <token>"') {
    super('UNAUTHORIZED', 401, message);
  }
}

/** A door's request whose signature is missing, stale or wrong (Slack, GitHub): nothing was done. */
export class SignatureError extends MayflyError {
  constructor(message: string) {
    super('BAD_SIGNATURE', 401, message);
  }
}

export class NotFoundError extends MayflyError {
  constructor(code: string, message: string) {
    super(code, 404, message);
  }
}

export class ConflictError extends MayflyError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, 409, message, { details });
  }
}

export class UnavailableError extends MayflyError {
  constructor(message: string, cause?: unknown) {
    super('SERVICE_UNAVAILABLE', 503, message, { cause });
  }
}

/**
 * Past an admission limit, when the caller asked not to wait in line (`?queue=false` or
 * `Prefer: no-queue`): nothing was created. `Retry-After` is the estimated wait.
 */
export class CapacityError extends MayflyError {
  constructor(message: string, retryAfterSeconds: number, details?: unknown) {
    super('CAPACITY_EXCEEDED', 429, message, { details, retryAfterSeconds });
  }
}

/**
 * PostgreSQL, where every request is recorded, could not take this one: nothing was recorded.
 * The error middleware turns a lost or refused database connection into this answer.
 */
export class StoreUnavailableError extends MayflyError {
  constructor(cause?: unknown, retryAfterSeconds = 5) {
    super('STORE_UNAVAILABLE', 503, 'the database (PostgreSQL) did not answer: nothing was recorded or changed; try again shortly', { cause, retryAfterSeconds });
  }
}

/** A lost, refused or shutting-down PostgreSQL connection (pg's errors), as opposed to a bad query. */
export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300'].includes(e.code)) return true;
  if (e.code?.startsWith('08')) return true; // connection exceptions
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message ?? '');
}

/**
 * A template or rendered stack that Mayfly refuses (invalid YAML, unsupported compose key,
 * a dependency cycle...). Permanent: retrying cannot fix it.
 */
export class StackError extends MayflyError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, 422, message, { details });
  }
}

/**
 * A failure while provisioning that a retry cannot fix (an image that does not exist, a service
 * that exits, a seed that does not load). Jobs fail at once with its reason.
 */
export class PermanentFailure extends MayflyError {
  constructor(code: string, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(code, 500, message, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A rendered stack that asks for more than this host allows (core/stack/policy.ts): privileges,
 * host namespaces, devices, host paths, other registries, limits over the maximum. Permanent.
 * `details` lists every violation as {field, service, key, message}.
 */
export class PolicyError extends StackError {
  constructor(message: string, details: { field: string; service: string; key: string; message: string }[]) {
    super('POLICY_VIOLATION', message, details);
  }
}

/** The principal may not act on this environment: it belongs to another team (403). */
export class ForbiddenError extends MayflyError {
  constructor(message: string, details?: unknown) {
    super('FORBIDDEN', 403, message, { details });
  }
}

/** A request body over the door's size limit (413); the message names the limit. */
export class PayloadTooLargeError extends MayflyError {
  constructor(limitBytes: number, door: string) {
    super('PAYLOAD_TOO_LARGE', 413, `the request body is larger than the ${Math.round(limitBytes / 1024)} kB (${limitBytes} bytes) that ${door} accepts`, {
      details: [{ field: '(body)', message: `must be at most ${limitBytes} bytes` }],
    });
  }
}
