import { readFileSync } from 'node:fs';
import { ConfigError } from './read.js';

/** What dockerode sends as X-Registry-Auth for one pull. */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/**
 * Registry credentials, read from secret files at start (MAYFLY_REGISTRY_AUTH_FILE, a Docker
 * config.json; or MAYFLY_REGISTRY_USERNAME + MAYFLY_REGISTRY_PASSWORD_FILE for MAYFLY_REGISTRY).
 * The secrets live in a private field: JSON, util.inspect and pino see only the host names, and
 * they are handed out only to the worker's pull. They never go into job data, events or errors.
 */
export class RegistryCredentials {
  readonly #byHost: Map<string, { username: string; password: string }>;

  constructor(entries: Iterable<[string, { username: string; password: string }]> = []) {
    this.#byHost = new Map([...entries].map(([h, c]) => [h.toLowerCase(), c]));
  }

  /** Registries we hold credentials for (no secrets). */
  get hosts(): string[] {
    return [...this.#byHost.keys()];
  }

  /** The auth of the registry that `registry` (host[:port]) names, if any. */
  authFor(registry: string): RegistryAuth | undefined {
    const c = this.#byHost.get(registry.toLowerCase()) ?? (registry === 'docker.io' ? this.#byHost.get('https://index.docker.io/v1/') : undefined);
    return c ? { username: c.username, password: c.password, serveraddress: registry } : undefined;
  }

  /** Every secret, so that tests and log checks can look for them. */
  secrets(): string[] {
    return [...this.#byHost.values()].map((c) => c.password);
  }

  toJSON(): { hosts: string[] } {
    return { hosts: this.hosts };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `RegistryCredentials(${this.hosts.join(', ') || 'none'})`;
  }
}

function readSecret(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    // The error names the file, never its content.
    throw new ConfigError(variable, `names a file that cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function loadRegistryCredentials(env: NodeJS.ProcessEnv, registry: string): RegistryCredentials {
  const entries: [string, { username: string; password: string }][] = [];
  const authFile = env.MAYFLY_REGISTRY_AUTH_FILE;
  if (authFile) {
    let doc: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
    try {
      doc = JSON.parse(readSecret('MAYFLY_REGISTRY_AUTH_FILE', authFile));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('MAYFLY_REGISTRY_AUTH_FILE', `is not JSON in Docker's config.json format ({"auths": {"host:port": {"auth": "<base64 user:password>"}}}): ${authFile}`);
    }
    if (!doc || typeof doc.auths !== 'object' || doc.auths === null) throw new ConfigError('MAYFLY_REGISTRY_AUTH_FILE', `has no "auths" map: ${authFile}`);
    for (const [host, a] of Object.entries(doc.auths)) {
      let username = a?.username;
      let password = a?.password;
      if (typeof a?.auth === 'string') {
        const decoded = Buffer.from(a.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) { username = decoded.slice(0, colon); password = decoded.slice(colon + 1); }
      }
      if (!username || !password) throw new ConfigError('MAYFLY_REGISTRY_AUTH_FILE', `has no usable "auth" (or username and password) for "${host}"`);
      entries.push([host.replace(/^https?:\/\//, '').replace(/\/.*$/, ''), { username, password }]);
    }
  }
  const username = env.MAYFLY_REGISTRY_USERNAME;
  const passwordFile = env.MAYFLY_REGISTRY_PASSWORD_FILE;
  if (username || passwordFile) {
    if (!username) throw new ConfigError('MAYFLY_REGISTRY_USERNAME', 'is required with MAYFLY_REGISTRY_PASSWORD_FILE');
    if (!passwordFile) throw new ConfigError('MAYFLY_REGISTRY_PASSWORD_FILE', 'is required with MAYFLY_REGISTRY_USERNAME (the password is read from a file, never from the environment)');
    const password = readSecret('MAYFLY_REGISTRY_PASSWORD_FILE', passwordFile).replace(/\r?\n$/, '');
    if (!password) throw new ConfigError('MAYFLY_REGISTRY_PASSWORD_FILE', `names an empty file: ${passwordFile}`);
    entries.push([registry, { username, password }]);
  }
  return new RegistryCredentials(entries);
}
