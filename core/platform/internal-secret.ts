/**
 * The shared secret of the worker's internal endpoint (core/platform/internal-api.ts). Given
 * (MAYFLY_WORKER_INTERNAL_SECRET or MAYFLY_WORKER_INTERNAL_SECRET_FILE), it is used as given.
 * Otherwise it is random: made by whichever process starts first and kept in the state directory
 * (MAYFLY_STATE_DIR, file `worker-internal-secret`, mode 0600), where the web process and every
 * worker on the host read the same one. Nothing about it can be computed from other settings.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/** The name of the generated secret's file inside the state directory. */
export const INTERNAL_SECRET_FILE = 'worker-internal-secret';

/** At least this long, whether given or read from the file. */
export const MIN_SECRET_LENGTH = 16;

export class InternalSecretError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InternalSecretError';
  }
}

const HOW_TO_FIX = 'set MAYFLY_STATE_DIR to a folder this user may read and write, or give the secret to every process with MAYFLY_WORKER_INTERNAL_SECRET or MAYFLY_WORKER_INTERNAL_SECRET_FILE';

function readSecretFile(file: string): string {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw new InternalSecretError(`cannot read the worker's internal secret at ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); ${HOW_TO_FIX}`, { cause: err });
  }
  // Like ssh with a private key: a file others may read is refused, not silently used.
  if ((st.mode & 0o077) !== 0) {
    throw new InternalSecretError(`the worker's internal secret at ${file} may be read by other users (mode ${(st.mode & 0o777).toString(8)}): run chmod 600 ${file}, or remove it to have a new one made`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new InternalSecretError(`cannot read the worker's internal secret at ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); ${HOW_TO_FIX}`, { cause: err });
  }
  if (text.length < MIN_SECRET_LENGTH) {
    throw new InternalSecretError(`the worker's internal secret at ${file} is shorter than ${MIN_SECRET_LENGTH} characters: remove the file to have a new one made`);
  }
  return text;
}

/**
 * The secret in `file`, made first when there is none. Several processes starting at once end
 * with the same secret: each writes its candidate to a file of its own (mode 0600), then links
 * it to the final name, which fails for all but the first (link never replaces a file: O_EXCL
 * semantics); every process then reads the file that won.
 */
export function loadOrCreateSecretFile(file: string): string {
  try {
    return readSecretFile(file);
  } catch (err) {
    if (((err as InternalSecretError).cause as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') throw err;
  }
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new InternalSecretError(`cannot make the state directory ${dir} for the worker's internal secret (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${HOW_TO_FIX}`, { cause: err });
  }
  const candidate = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(candidate, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('base64url')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(candidate, file);
    } catch (err) {
      // Another process made it first: its secret is the one.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } catch (err) {
    if (err instanceof InternalSecretError) throw err;
    throw new InternalSecretError(`cannot write the worker's internal secret at ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${HOW_TO_FIX}`, { cause: err });
  } finally {
    try { unlinkSync(candidate); } catch { /* never made, or already gone */ }
  }
  return readSecretFile(file);
}

/** The internal secret of this installation: the given one, else the one kept in the state directory. */
export function workerInternalSecret(web: { workerInternalSecret?: string | undefined; workerInternalSecretFile: string }): string {
  return web.workerInternalSecret ?? loadOrCreateSecretFile(web.workerInternalSecretFile);
}
