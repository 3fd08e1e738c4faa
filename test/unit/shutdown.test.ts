import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeWithin, type CloseStep } from '../../core/platform/shutdown.js';
import { createLogger } from '../../core/platform/log.js';
import { drainable } from '../../api/drain.js';

const logger = createLogger('silent', 'shutdown-test');

describe('shutdown: one close path within a grace period', () => {
  it('when every step closes, then they run in order and nothing is reported unfinished', async () => {
    const ran: string[] = [];
    const step = (name: string): CloseStep => ({ name, close: async () => { ran.push(name); } });
    assert.deepEqual(await closeWithin([step('a'), step('b'), step('c')], 5000, logger), []);
    assert.deepEqual(ran, ['a', 'b', 'c']);
  });

  it('when a step fails, then the steps after it still run and the failed one is reported', async () => {
    const ran: string[] = [];
    const unfinished = await closeWithin([
      { name: 'broken', close: async () => { throw new Error('boom'); } },
      { name: 'pool', close: async () => { ran.push('pool'); } },
    ], 5000, logger);
    assert.deepEqual(unfinished, ['broken']);
    assert.deepEqual(ran, ['pool']);
  });

  it('when a step is still running at the end of the grace period, then it and every later step are reported abandoned', async () => {
    const ran: string[] = [];
    const unfinished = await closeWithin([
      { name: 'quick', close: async () => { ran.push('quick'); } },
      { name: 'job workers', close: () => new Promise(() => undefined) },
      { name: 'pool', close: async () => { ran.push('pool'); } },
    ], 100, logger);
    assert.deepEqual(unfinished, ['job workers', 'pool']);
    assert.deepEqual(ran, ['quick']);
  });
});

describe('drainable HTTP server', () => {
  async function listen(server: Server): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  function get(port: number, path: string, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
      const req = request({ port, path, headers }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', (err) => resolve({ error: err.message }));
      });
      req.on('error', (err) => resolve({ error: err.message }));
      req.end();
    });
  }

  it('when it drains, then a request in flight is answered, while an event stream and a ?wait= request are ended at once', async () => {
    let finishSlow: () => void = () => undefined;
    const started: string[] = [];
    const server = createServer((req, res) => {
      started.push(req.url!);
      if (req.url === '/slow') { finishSlow = () => res.end('done'); return; }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 2000\n\n'); // streams and waits never end by themselves here
    });
    const http = drainable(server);
    const port = await listen(server);
    const slow = get(port, '/slow');
    const stream = get(port, '/events', { accept: 'text/event-stream' });
    const wait = get(port, '/env?wait=900');
    while (started.length < 3) await new Promise((r) => setTimeout(r, 10));

    let drained = false;
    const draining = http.drain().then(() => { drained = true; });
    const cut = await Promise.all([stream, wait]);
    for (const r of cut) assert.ok('error' in r || r.status === 200, JSON.stringify(r));
    assert.equal(drained, false, 'the request in flight is waited for');
    finishSlow();
    assert.deepEqual(await slow, { status: 200, body: 'done' });
    await draining;
    assert.equal(server.listening, false);
  });
});
