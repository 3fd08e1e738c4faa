import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Reverse proxying with node's http and net: request and response bodies are streamed (never
 * buffered), hop-by-hop headers dropped, X-Forwarded-For/Proto/Host added, the Host kept (the
 * app sees its public address). WebSocket upgrades are piped as raw TCP once the upstream
 * connection is open, so the upstream's 101 answer and every frame pass through untouched.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection']);

export interface Target { host: string; port: number }

export function parseTarget(endpoint: string | undefined): Target | undefined {
  const m = /^([\w.-]+|\[[0-9a-f:]+\]):(\d{1,5})$/i.exec(endpoint ?? '');
  return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
}

function connectionTokens(headers: http.IncomingHttpHeaders): Set<string> {
  return new Set(String(headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim()).filter(Boolean));
}

/** The forwarded headers: the client's address appended to any X-Forwarded-For it sent. */
function forwarded(req: IncomingMessage): Record<string, string> {
  const client = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  return {
    'x-forwarded-for': prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}` : client,
    'x-forwarded-proto': (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    'x-forwarded-host': req.headers.host ?? '',
  };
}

function requestHeaders(req: IncomingMessage, keepUpgrade: boolean): Record<string, string | string[]> {
  const drop = connectionTokens(req.headers);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k.startsWith('x-forwarded-')) continue;
    if (!keepUpgrade && (HOP_BY_HOP.has(k) || drop.has(k))) continue;
    out[k] = v;
  }
  return { ...out, ...forwarded(req) };
}

export const upstreamAgent = () => new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });

/** Proxies one HTTP request; `onError` answers when the upstream fails before its headers came. */
export function proxyHttp(req: IncomingMessage, res: ServerResponse, target: Target, agent: http.Agent, onError: (err: Error) => void): void {
  const upstream = http.request({
    host: target.host, port: target.port, method: req.method, path: req.url, agent,
    headers: requestHeaders(req, false),
  }, (ures) => {
    const drop = connectionTokens(ures.headers);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(ures.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && !drop.has(k)) headers[k] = v;
    }
    res.writeHead(ures.statusCode ?? 502, ures.statusMessage, headers);
    ures.pipe(res);
    ures.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    if (!res.headersSent) onError(err);
    else res.destroy(err);
  });
  // The client went away: stop the upstream request too.
  res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  // A request tried a second time has no body left to stream.
  if (req.readableEnded) upstream.end();
  else req.pipe(upstream);
}

/** Proxies a WebSocket (any Upgrade) request as raw TCP; `onData` sees traffic both ways. */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: Target, onData: () => void, onError: (err: Error) => void): void {
  const upstream = net.connect(target.port, target.host);
  let connected = false;
  upstream.on('connect', () => {
    connected = true;
    const headers = requestHeaders(req, true);
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (const [k, v] of Object.entries(headers)) for (const value of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${value}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) upstream.write(head);
    upstream.setNoDelay(true);
    socket.pipe(upstream).pipe(socket);
    socket.on('data', onData);
    upstream.on('data', onData);
  });
  upstream.on('error', (err) => {
    if (!connected) onError(err);
    socket.destroy();
  });
  socket.on('error', () => upstream.destroy());
  socket.on('close', () => upstream.destroy());
  upstream.on('close', () => socket.destroy());
}
