import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { checkRedisAtStart } from '../../core/queue/redis.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-engines.js';
import { WorkerProcess } from '../helpers/worker-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIX = /maxmemory-policy allkeys-lru[\s\S]*redis-cli config set maxmemory-policy noeviction[\s\S]*redis\.conf[\s\S]*MAYFLY_ALLOW_REDIS_EVICTION=on/;

/** Log lines the check writes, kept for assertions. */
function memoryLogger() {
  const lines: string[] = [];
  return { lines, info: (_o: object, m: string) => { lines.push(`info ${m}`); }, warn: (_o: object, m: string) => { lines.push(`warn ${m}`); } };
}

/** The web process (api/main.ts) until it listens or exits; its exit code and output. */
async function runWeb(env: Record<string, string>, ms = 60_000): Promise<{ listening: boolean; code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (output.includes('mayfly web listening')) {
      child.kill('SIGTERM');
      return { listening: true, code: await exited, output };
    }
    if (child.exitCode !== null) return { listening: false, code: child.exitCode, output };
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`the web process neither listened nor exited in ${ms} ms:\n${output}`);
}

describe('Redis must not evict: checked when web and worker start', { timeout: 300_000 }, () => {
  let redis: PrivateRedis;
  let h: Harness;
  before(async () => {
    redis = await startPrivateRedis();
    const admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    admin.disconnect();
    h = await startHarness({ worker: false, env: { REDIS_URL: redis.url } });
  });
  after(async () => {
    await h?.close();
    await redis?.stop();
  });

  it('when Redis has maxmemory-policy allkeys-lru, then the check refuses, naming the setting, the fix and the override', async () => {
    const log = memoryLogger();
    await assert.rejects(checkRedisAtStart(redis.url, { allowEviction: false, logger: log, onLateRefusal: () => assert.fail('not late') }), (err: Error) => {
      assert.match(err.message, FIX);
      return true;
    });
  });

  it('when MAYFLY_ALLOW_REDIS_EVICTION is on, then the check lets allkeys-lru through and warns', async () => {
    const log = memoryLogger();
    const result = await checkRedisAtStart(redis.url, { allowEviction: true, logger: log, onLateRefusal: () => assert.fail('not late') });
    assert.deepEqual(result, { maxmemoryPolicy: 'allkeys-lru', overridden: true });
    assert.ok(log.lines.some((l) => l.startsWith('warn') && l.includes('MAYFLY_ALLOW_REDIS_EVICTION=on')), log.lines.join('\n'));
  });

  it('when Redis is noeviction (the shared one), then the check passes', async () => {
    const log = memoryLogger();
    const result = await checkRedisAtStart('redis://127.0.0.1:6379', { allowEviction: false, logger: log, onLateRefusal: () => assert.fail('not late') });
    assert.deepEqual(result, { maxmemoryPolicy: 'noeviction', overridden: false });
  });

  it('when Redis answers only after the start, then the refusal comes when it answers', async () => {
    // A proxy that drops connections until it is opened: Redis "down" at start, then up.
    let open = false;
    const proxy: Server = createServer((sock) => {
      if (!open) { sock.destroy(); return; }
      const up = connect(redis.port, '127.0.0.1');
      sock.pipe(up).pipe(sock);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const log = memoryLogger();
      let late: Error | undefined;
      const result = await checkRedisAtStart(`redis://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
        allowEviction: false, logger: log, waitMs: 500, onLateRefusal: (err) => { late = err; },
      });
      assert.equal(result, undefined, 'the start goes on while Redis does not answer');
      assert.ok(log.lines.some((l) => l.startsWith('warn') && l.includes('checked once it does')), log.lines.join('\n'));
      open = true;
      const deadline = Date.now() + 20_000;
      while (!late && Date.now() < deadline) await sleep(100);
      assert.ok(late, 'the refusal came once Redis answered');
      assert.match(late.message, FIX);
    } finally {
      proxy.close();
    }
  });

  it('when the worker starts on it, then it exits naming the setting, the fix and the override', async () => {
    await assert.rejects(WorkerProcess.start(h), (err: Error) => {
      assert.match(err.message, /exited before it started/);
      assert.match(err.message, FIX);
      return true;
    });
  });

  it('when the worker starts on it with MAYFLY_ALLOW_REDIS_EVICTION=on, then it starts and warns', async () => {
    const w = await WorkerProcess.start(h, { MAYFLY_ALLOW_REDIS_EVICTION: 'on' });
    try {
      const warning = w.logLines('Redis may evict keys (maxmemory-policy allkeys-lru); starting anyway because MAYFLY_ALLOW_REDIS_EVICTION=on: jobs can vanish under memory pressure');
      assert.equal(warning.length, 1, w.output());
      assert.equal(warning[0]!.level, 40);
    } finally {
      await w.stop();
    }
  });

  it('when the web process starts on it, then it exits 1 naming the setting, the fix and the override', async () => {
    const web = await runWeb({ ...h.configEnv, PORT: '0', MAYFLY_ROUTER_PORT: '0', LOG_LEVEL: 'info' });
    assert.equal(web.listening, false, web.output);
    assert.equal(web.code, 1, web.output);
    assert.match(web.output, /mayfly web failed to start/);
    assert.match(web.output, FIX);
  });

  it('when the web process starts on it with MAYFLY_ALLOW_REDIS_EVICTION=on, then it listens', async () => {
    const web = await runWeb({ ...h.configEnv, PORT: '0', MAYFLY_ROUTER_PORT: '0', LOG_LEVEL: 'info', MAYFLY_ALLOW_REDIS_EVICTION: 'on' });
    assert.equal(web.listening, true, web.output);
    assert.match(web.output, /starting anyway because MAYFLY_ALLOW_REDIS_EVICTION=on/);
  });

  it('when /readyz is asked, then its detail shows the policy and warns about it', async () => {
    const res = await h.api('GET', '/readyz', undefined, {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.detail.redis.maxmemoryPolicy, 'allkeys-lru');
    assert.match(res.body.detail.redis.warning, /redis-cli config set maxmemory-policy noeviction/);
    assert.ok('cloneStrategy' in res.body.detail, 'the existing detail is kept');
  });
});
