/**
 * The CLI's HTTP client for Mayfly's REST API (Node's fetch, no dependency). Every failure is a
 * CliError carrying the exit code the CLI ends with.
 */
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

export interface ApiAnswer { status: number; body: any }

export class MayflyClient {
  constructor(private readonly baseUrl: string, private readonly token: string) {}

  async call(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<ApiAnswer> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          'x-mayfly-client': 'cli',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      if (e.name === 'TimeoutError') throw new CliError(`Mayfly at ${this.baseUrl} did not answer within ${Math.round(timeoutMs / 1000)} s`, EXIT.TIMEOUT);
      throw new CliError(`cannot reach Mayfly at ${this.baseUrl} (${e.cause?.code ?? e.message}); check MAYFLY_URL`, EXIT.AUTH_OR_CONNECTION);
    }
    const text = await res.text();
    let parsed: any = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    if (res.status >= 400) {
      const err = parsed?.error;
      const details = Array.isArray(err?.details) ? err.details.map((d: { field: string; message: string }) => `\n  ${d.field}: ${d.message}`).join('') : '';
      const message = `${err?.code ?? `HTTP ${res.status}`}: ${err?.message ?? text.slice(0, 200)}${details}`;
      // 403 FORBIDDEN: a valid token of another team; the API refused this environment, not the token.
      if (res.status === 403 && err?.code === 'FORBIDDEN') throw new CliError(message, EXIT.FAILED);
      if (res.status === 401 || res.status === 403) throw new CliError(`${message} (check MAYFLY_TOKEN)`, EXIT.AUTH_OR_CONNECTION);
      if (res.status === 400) throw new CliError(message, EXIT.USAGE);
      throw new CliError(message, EXIT.FAILED);
    }
    return { status: res.status, body: parsed };
  }
}
