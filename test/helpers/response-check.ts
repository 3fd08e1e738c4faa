/**
 * Checks every answer of REST v1 against the schema core/api/routes.ts declares for its route
 * and status, while tests run. The harness wraps the web app's request listener with it, so
 * whatever calls the API (h.api, fetch, the CLI as a child process) is checked, and the
 * harness's close() fails the test file when an answer did not match.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { answersOf, findOperation } from '../../core/api/routes.js';

const PREFIX = '/api/v1';

export class ResponseCheck {
  /** What did not match, one line each: method, path, status, and what is wrong. */
  readonly mismatches: string[] = [];
  /** Answers of described routes checked so far. */
  checked = 0;
  /** "operationId status" of every answer checked, matching or not. */
  readonly seen = new Set<string>();

  /**
   * Why this answer does not match its declaration, or undefined when it does (or when the route
   * is not one the document describes). `body` is the answer's bytes as text.
   */
  problem(method: string, url: string, status: number, contentType: string | undefined, body: string | undefined): string | undefined {
    const path = url.split('?')[0]!;
    if (!path.startsWith(`${PREFIX}/`)) return undefined;
    const found = findOperation(method, path.slice(PREFIX.length));
    if (!found) return undefined;
    this.checked++;
    this.seen.add(`${found.op.operationId} ${status}`);
    const declared = answersOf(found.op)[status];
    if (!declared) return `status ${status} is not declared for ${found.op.operationId}`;
    if (!declared.content) return body ? `status ${status} declares no body, but one came (${body.slice(0, 80)})` : undefined;
    const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const schema = declared.content[type];
    if (!schema) return `content type "${type}" is not declared for status ${status} (declared: ${Object.keys(declared.content).join(', ')})`;
    if (type !== 'application/json' || body === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return `the body is not JSON: ${body.slice(0, 80)}`;
    }
    const result = schema.safeParse(value);
    if (result.success) return undefined;
    return result.error.issues.slice(0, 5).map((i) => {
      const keys = i.code === 'unrecognized_keys' ? ` ${JSON.stringify(i.keys)}` : '';
      return `${i.path.join('.') || '(body)'}: ${i.message}${keys}`;
    }).join('; ');
  }

  /** Checks one answer and records it when it does not match. */
  record(method: string, url: string, status: number, contentType: string | undefined, body: string | undefined): void {
    const problem = this.problem(method, url, status, contentType, body);
    if (problem) this.mismatches.push(`${method} ${url.split('?')[0]} -> ${status}: ${problem}`);
  }

  /**
   * The app's request listener, with every answer under /api/v1 checked when it is sent. A JSON
   * answer's bytes are kept to check its body; a stream (server-sent events, logs) is checked by
   * its status and content type only.
   */
  wrap(listener: RequestListener): RequestListener {
    return (req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      if (!url.startsWith(`${PREFIX}/`)) return listener(req, res);
      const chunks: Buffer[] = [];
      const keep = (chunk: unknown, encoding?: unknown) => {
        if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
        if (!/json/i.test(String(res.getHeader('content-type') ?? ''))) return;
        chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8') : Buffer.from(chunk as Uint8Array));
      };
      const write = res.write;
      const end = res.end;
      res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
        keep(chunk, rest[0]);
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      } as typeof res.write;
      res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
        keep(chunk, rest[0]);
        return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
      } as typeof res.end;
      let done = false;
      const check = (complete: boolean) => {
        if (done) return;
        done = true;
        const type = res.getHeader('content-type');
        // Only JSON bodies are kept; one cut off (the client went away) is not checked by its body.
        const body = complete && /json/i.test(String(type ?? '')) ? Buffer.concat(chunks).toString('utf8') : undefined;
        this.record(req.method ?? 'GET', url, res.statusCode, type === undefined ? undefined : String(type), req.method === 'HEAD' ? undefined : body);
      };
      res.on('finish', () => check(true));
      res.on('close', () => check(res.writableFinished));
      return listener(req, res);
    };
  }

  /** Throws when any answer did not match (the harness calls it when it closes). */
  assertNone(): void {
    if (!this.mismatches.length) return;
    const shown = this.mismatches.slice(0, 20).join('\n  ');
    throw new Error(`${this.mismatches.length} answer(s) of REST v1 do not match the schema core/api/routes.ts declares for them:\n  ${shown}`);
  }
}
