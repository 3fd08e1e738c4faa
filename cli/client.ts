/**
 * The CLI's HTTP client for Mayfly's REST API: openapi-fetch over the types generated from the
 * OpenAPI document the web serves (cli/api-types.ts, `npm run api-types`; a test fails when the
 * committed types and the served document differ), so a path, parameter or body the API does not
 * describe is a type error here. Every failure is a CliError carrying the exit code the CLI ends
 * with. Needs Node's global fetch (Node 20 has it).
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './api-types.js';

export type Environment = components['schemas']['Environment'];
export type DeployAnswer = components['schemas']['DeployAnswer'];
export type EnvironmentRequest = components['schemas']['EnvironmentRequest'];
export type EnvironmentEvent = components['schemas']['Event'];
type ApiError = components['schemas']['Error'];
export type SavedDataset = components['schemas']['SavedDatasetDeleted'];
export type Checkpoint = components['schemas']['Checkpoint'];
export type Capsule = components['schemas']['CapsuleSummary'];
export type CapsuleRestoreRequest = components['schemas']['CapsuleRestoreRequest'];
/** An entry of GET /seeds: a dataset of seed-data/ or a saved one (with the SavedDataset fields). */
export type SeedEntry = NonNullable<paths['/seeds']['get']['responses'][200]['content']['application/json']['datasets']>[number];

export const EXIT = {
  OK: 0,
  /** The environment failed or went away, or the API refused the request (403 another team's, 404, 409...). */
  FAILED: 1,
  /** Wrong command line, or a request the API calls invalid (400). */
  USAGE: 2,
  /** --wait ran out of --timeout before the environment settled. */
  TIMEOUT: 3,
  /** MAYFLY_URL / MAYFLY_TOKEN missing or refused (401/403), or Mayfly unreachable. */
  AUTH_OR_CONNECTION: 4,
} as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** What an openapi-fetch call resolves to: data on 2XX, the parsed (or raw text) body otherwise. */
type Answer<D> = { data?: D; error?: unknown; response: Response };

export class MayflyClient {
  private readonly api: Client<paths>;

  constructor(private readonly baseUrl: string, token: string) {
    this.api = createClient<paths>({
      baseUrl: `${baseUrl}/api/v1`,
      headers: { authorization: `Bearer ${token}`, 'x-mayfly-client': 'cli' },
    });
  }

  /** PUT when a name is given (create or redeploy), else POST (a name is generated). */
  async deploy(body: EnvironmentRequest | CapsuleRestoreRequest, name?: string): Promise<DeployAnswer> {
    return name
      ? this.send((signal) => this.api.PUT('/environments/{name}', { params: { path: { name } }, body, signal }))
      : this.send((signal) => this.api.POST('/environments', { body, signal }));
  }

  /** One environment; with waitSeconds, the API holds the answer until it settles (at most that long). */
  async get(name: string, waitSeconds?: number, timeoutMs?: number): Promise<Environment> {
    const query = waitSeconds ? { wait: String(waitSeconds) } : {};
    return this.send((signal) => this.api.GET('/environments/{name}', { params: { path: { name }, query }, signal }), timeoutMs);
  }

  async list(all: boolean): Promise<Environment[]> {
    const query = all ? { all: 'true' as const } : {};
    const answer = await this.send((signal) => this.api.GET('/environments', { params: { query }, signal }));
    return answer.environments ?? [];
  }

  async destroy(name: string): Promise<Environment> {
    return this.send((signal) => this.api.DELETE('/environments/{name}', { params: { path: { name } }, signal }));
  }

  async extend(name: string, ttl: string): Promise<Environment> {
    return this.send((signal) => this.api.POST('/environments/{name}/extend', { params: { path: { name } }, body: { ttl }, signal }));
  }

  async events(name: string): Promise<EnvironmentEvent[]> {
    // The timeline as JSON; the same path streams it (text/event-stream) to those who ask for that.
    const answer = await this.send((signal) => this.api.GET('/environments/{name}/events', { params: { path: { name } }, headers: { accept: 'application/json' }, signal }));
    if (typeof answer !== 'object' || answer === null) throw new CliError(`Mayfly at ${this.baseUrl} did not answer the timeline as JSON`, EXIT.FAILED);
    return answer.events ?? [];
  }

  /** Datasets: seed-data/ ones and saved ones (with owner, team, size and source). */
  async datasets(): Promise<SeedEntry[]> {
    const answer = await this.send((signal) => this.api.GET('/seeds', { signal }));
    return answer.datasets ?? [];
  }

  /** Deletes a saved dataset; its volumes are removed by the worker. */
  async deleteDataset(name: string): Promise<SavedDataset> {
    return this.send((signal) => this.api.DELETE('/seeds/{name}', { params: { path: { name } }, signal }));
  }

  /** An environment's checkpoints, newest first. */
  async checkpoints(name: string): Promise<Checkpoint[]> {
    const answer = await this.send((signal) => this.api.GET('/environments/{name}/checkpoints', { params: { path: { name } }, signal }));
    return answer.checkpoints ?? [];
  }

  /** Takes a checkpoint now (the worker takes it: pending, then ready). */
  async checkpoint(name: string): Promise<Checkpoint> {
    return this.send((signal) => this.api.POST('/environments/{name}/checkpoints', { params: { path: { name } }, body: {}, signal }));
  }

  /** Brings a checkpoint back (a new generation). */
  async rewind(name: string, checkpoint: string): Promise<Environment> {
    return this.send((signal) => this.api.POST('/environments/{name}/rewind', { params: { path: { name }, query: {} }, body: { checkpoint }, signal }));
  }

  /** Takes a bug capsule of an environment (the worker takes it: pending, then ready). */
  async capsule(name: string, body: { name?: string; note?: string }): Promise<Capsule> {
    return this.send((signal) => this.api.POST('/environments/{name}/capsules', { params: { path: { name } }, body, signal }));
  }

  /** The bug capsules of an environment (also a gone one) that the caller's team holds, newest first. */
  async capsules(name: string): Promise<Capsule[]> {
    const answer = await this.send((signal) => this.api.GET('/environments/{name}/capsules', { params: { path: { name } }, signal }));
    return answer.capsules ?? [];
  }

  /** Forks an environment for someone: <name>--<for>. */
  async fork(name: string, forWhom: string): Promise<DeployAnswer> {
    return this.send((signal) => this.api.POST('/environments/{name}/forks', { params: { path: { name }, query: {} }, body: { for: forWhom }, signal }));
  }

  /** Runs one call with a deadline and turns every failure into a CliError with its exit code. */
  private async send<D>(call: (signal: AbortSignal) => Promise<Answer<D>>, timeoutMs = 60_000): Promise<D> {
    let answer: Answer<D>;
    try {
      answer = await call(AbortSignal.timeout(timeoutMs));
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      if (e.name === 'TimeoutError') throw new CliError(`Mayfly at ${this.baseUrl} did not answer within ${Math.round(timeoutMs / 1000)} s`, EXIT.TIMEOUT);
      if (e instanceof SyntaxError) throw new CliError(`Mayfly at ${this.baseUrl} answered with something that is not JSON; check MAYFLY_URL`, EXIT.AUTH_OR_CONNECTION);
      throw new CliError(`cannot reach Mayfly at ${this.baseUrl} (${e.cause?.code ?? e.message}); check MAYFLY_URL`, EXIT.AUTH_OR_CONNECTION);
    }
    const { response } = answer;
    if (response.ok) return answer.data as D;
    const err = typeof answer.error === 'object' && answer.error !== null ? (answer.error as Partial<ApiError>).error : undefined;
    const text = typeof answer.error === 'string' ? answer.error : '';
    const details = Array.isArray(err?.details) ? err.details.map((d) => `\n  ${d.field}: ${d.message}`).join('') : '';
    const message = `${err?.code ?? `HTTP ${response.status}`}: ${err?.message ?? text.slice(0, 200)}${details}`;
    // 403 FORBIDDEN: a valid token of another team; the API refused this environment, not the token.
    if (response.status === 403 && err?.code === 'FORBIDDEN') throw new CliError(message, EXIT.FAILED);
    if (response.status === 401 || response.status === 403) throw new CliError(`${message} (check MAYFLY_TOKEN)`, EXIT.AUTH_OR_CONNECTION);
    if (response.status === 400) throw new CliError(message, EXIT.USAGE);
    throw new CliError(message, EXIT.FAILED);
  }
}
