import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { nodeAgent } from '../../worker/runtime/swarm/node-agent.js';
import { dockerFor } from '../../worker/runtime/swarm/cluster.js';

/** A port that takes connections and then says nothing: a node cut off mid-call looks like this. */
async function silentPort(): Promise<{ port: number; close: () => void }> {
  const held: net.Socket[] = [];
  const server = net.createServer((s) => { held.push(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => { held.forEach((s) => s.destroy()); server.close(); } };
}

describe('a swarm node\'s connection agent', () => {
  const closers: (() => void)[] = [];
  after(() => closers.forEach((c) => c()));

  it('when a node takes the connection but never completes the TLS handshake, then the call fails within the connect timeout, naming the node', async () => {
    const silent = await silentPort(); closers.push(silent.close);
    const agent = nodeAgent('lab-n2', true, 300);
    const t0 = Date.now();
    const err = await new Promise<Error & { code?: string }>((resolve) => {
      https.get({ host: '127.0.0.1', port: silent.port, path: '/_ping', agent, rejectUnauthorized: false }, () => resolve(new Error('answered')))
        .on('error', resolve);
    });
    const took = Date.now() - t0;
    assert.equal(err.code, 'ETIMEDOUT', err.message);
    assert.match(err.message, /swarm node lab-n2's Engine API did not complete a TLS connection within 300 ms/);
    assert.ok(took < 5000, `failed after ${took} ms, not at TCP's own timeout`);
    await waitFor(() => agent.inFlight() === 0);
  });

  it('when a call is waiting on a node and it is abandoned, then the call fails at once with why, and nothing stays in flight', async () => {
    const server = http.createServer(() => { /* never answers */ });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const agent = nodeAgent('lab-n3', false, 1000);
    const docker = dockerFor({ url: `tcp://127.0.0.1:${port}` }, undefined, agent);
    const call = docker.ping().then(() => undefined, (e: Error) => e);
    await waitFor(() => agent.inFlight() === 1);
    agent.abandon('the swarm manager reports the node down');
    const err = await call;
    assert.ok(err instanceof Error, 'the call failed');
    assert.match(String(err.message), /call to swarm node lab-n3 abandoned: the swarm manager reports the node down/);
    await waitFor(() => agent.inFlight() === 0);
    server.closeAllConnections();
  });

  it('when a node answers, then calls go through its agent and no connection is kept for the next call', async () => {
    const server = http.createServer((_req, res) => { res.setHeader('content-type', 'text/plain'); res.end('OK'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const agent = nodeAgent('lab-n2', false, 1000);
    const docker = dockerFor({ url: `tcp://127.0.0.1:${port}` }, undefined, agent);
    let connections = 0;
    server.on('connection', () => { connections++; });
    assert.equal(String(await docker.ping()), 'OK');
    assert.equal(String(await docker.ping()), 'OK');
    assert.equal(connections, 2, 'each call its own connection');
    await waitFor(() => Object.values(agent.freeSockets).flat().length === 0 && agent.inFlight() === 0);
  });
});

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), 'condition never held');
}
