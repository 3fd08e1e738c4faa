import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { INTERNAL_SECRET_HEADER, internalPaths } from '../../core/platform/internal-api.js';
import { INTERNAL_SECRET_FILE } from '../../core/platform/internal-secret.js';
import { loadConfig } from '../../core/config/config.js';
import { workerClientOf } from '../../api/worker-client.js';
import { NotFoundError } from '../../core/domain/errors.js';
import { startHarness, waitUntil, type Harness } from '../helpers/harness.js';
import { WorkerProcess } from '../helpers/worker-process.js';

/** An address of this host that is not loopback (the machine's own interface, or a Docker bridge). */
function nonLoopbackAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this host has no IPv4 address other than loopback to test against');
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The worker's internal endpoint as the Procfile starts it (its own process): its secret is random
 * and kept in the state directory, it listens on loopback only, and it refuses a wrong secret.
 */
describe("the worker's internal endpoint, served by a worker process", { timeout: 300_000 }, () => {
  let h: Harness;
  let worker: WorkerProcess | undefined;
  // A state directory of its own, empty: the worker starts first and makes the secret.
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mayfly-internal-state-'));
  before(async () => { h = await startHarness({ worker: false }); });
  after(async () => {
    await worker?.stop();
    await h?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('when a worker starts first on an empty state directory, then it makes a 0600 secret there, listens on 127.0.0.1 only, refuses a wrong secret, and the web reads the same secret', async () => {
    worker = await WorkerProcess.start(h, { MAYFLY_STATE_DIR: stateDir });
    const w = worker;
    // It listens just after it logs "worker started".
    const line = await waitUntil('the "internal endpoint listening" line', 30_000, async () => w.logLines('internal endpoint listening (service state, logs)')[0])
      .catch((err: Error) => assert.fail(`${err.message}:\n${w.output()}`));
    assert.equal(typeof line.url, 'string');
    const url = new URL(line.url as string);
    assert.equal(url.hostname, '127.0.0.1', 'bound to loopback');
    const port = Number(url.port);

    // Bound to 127.0.0.1: the same port on another address of this host accepts nothing.
    assert.equal(await accepts('127.0.0.1', port), true);
    const other = nonLoopbackAddress();
    assert.equal(await accepts(other, port), false, `${other}:${port} must refuse: the endpoint is on loopback only`);

    const file = path.join(stateDir, INTERNAL_SECRET_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const secret = readFileSync(file, 'utf8').trim();
    assert.notEqual(secret, h.internalSecret, 'another state directory, another secret: nothing else decides it');

    const envPath = internalPaths.services(randomUUID());
    assert.equal((await fetch(`${url.origin}${envPath}`)).status, 401, 'no secret');
    for (const wrong of ['wrong-secret-0123456789', h.internalSecret, `${secret}x`]) {
      const res = await fetch(`${url.origin}${envPath}`, { headers: { [INTERNAL_SECRET_HEADER]: wrong } });
      assert.equal(res.status, 401, `a wrong secret: ${wrong.slice(0, 6)}...`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    }
    assert.equal((await fetch(`${url.origin}${envPath}`, { headers: { [INTERNAL_SECRET_HEADER]: secret } })).status, 404, 'the right secret: the environment does not exist');

    // The web process with the same state directory reads the worker's secret and is answered.
    const web = loadConfig({ ...process.env, ...h.configEnv, MAYFLY_STATE_DIR: stateDir, MAYFLY_WORKER_INTERNAL_URL: url.origin });
    await assert.rejects(workerClientOf({ config: web, queues: h.queues }).services(randomUUID()), (err: Error) => err instanceof NotFoundError);
  });
});
