/**
 * A local HTTP server on 127.0.0.1 standing in for the receivers of Mayfly's outbound HTTP
 * (Slack's response_url, a CI callback, GitHub's API). It records every request, raw body
 * included, and answers what the test says.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  json: any;
  at: number;
}

export interface StandIn {
  url: string;
  received: Received[];
  /** Status to answer for a request (default 200). */
  answer: (r: Received) => number;
  close(): Promise<void>;
}

export async function startStandIn(): Promise<StandIn> {
  const received: Received[] = [];
  const s: StandIn = { url: '', received, answer: () => 200, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try { json = JSON.parse(raw); } catch { json = undefined; }
      const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, json, at: Date.now() };
      received.push(r);
      res.statusCode = s.answer(r);
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return s;
}

/** A call to a stand-in API: method, path and query as sent, the JSON body, the headers. */
export interface ApiCall { method: string; path: string; json: any; headers: IncomingHttpHeaders }

/**
 * A stand-in for a code host's REST API on 127.0.0.1 (GitHub's, GitLab's): every call is recorded
 * (in `calls`, before it is answered) and answered by `route` with a status, a JSON body and,
 * optionally, headers (a 429's Retry-After).
 */
export async function startApiStandIn(route: (call: ApiCall, url: URL) => [number, unknown] | [number, unknown, Record<string, string>]): Promise<{ url: string; calls: ApiCall[]; close(): Promise<void> }> {
  const calls: ApiCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: any;
      try { json = raw ? JSON.parse(raw) : undefined; } catch { json = undefined; }
      const call: ApiCall = { method: req.method ?? '', path: req.url ?? '', json, headers: req.headers };
      calls.push(call);
      const [status, body, headers] = route(call, new URL(call.path, 'http://stand-in'));
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
