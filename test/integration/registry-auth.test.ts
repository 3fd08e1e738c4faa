import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { RegistryCredentials, loadRegistryCredentials } from '../../core/config/registry.js';
import { ConfigError } from '../../core/config/config.js';
import { createLogger } from '../../core/platform/log.js';
import { DockerRuntime } from '../../worker/runtime/docker/docker-runtime.js';
import { AUTH, startHarness, waitUntil, type Harness } from '../helpers/harness.js';
import { freePort } from '../helpers/private-engines.js';

/**
 * A private registry that requires a password (Debian's docker-registry with htpasswd/bcrypt, on
 * a random loopback port, its own storage): a copy of mayfly/shop is pushed into it and an
 * environment is provisioned from it with credentials from MAYFLY_REGISTRY_AUTH_FILE. The
 * password must then appear in no log line, event, record, job or error.
 */
const SHARED = '127.0.0.1:5000';
const USER = 'mayfly-ci';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;


async function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
    const failed = err ?? out.find((o) => o.error);
    if (failed) reject(err ?? new Error(String((failed as { error: string }).error))); else resolve();
  }));
}

/** Every value under this BullMQ prefix, whatever the key's type. */
async function dumpRedis(redis: Redis, prefix: string): Promise<string> {
  let out = '';
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const value = type === 'hash' ? await redis.hgetall(key)
        : type === 'string' ? await redis.get(key)
        : type === 'list' ? await redis.lrange(key, 0, -1)
        : type === 'zset' ? await redis.zrange(key, '0', '-1')
        : type === 'set' ? await redis.smembers(key)
        : type === 'stream' ? await redis.xrange(key, '-', '+') : '';
      out += `${key} ${JSON.stringify(value)}\n`;
    }
  } while (cursor !== '0');
  return out;
}

describe('registry credentials: a private registry that needs a password', () => {
  let dir: string;
  let port: number;
  let registry: ChildProcess;
  let registryLog = '';
  let h: Harness;
  let privateRef: string;
  const logLines: string[] = [];
  const docker = new Docker();

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mayfly-registry-'));
    port = await freePort();
    writeFileSync(path.join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 10)}\n`);
    writeFileSync(path.join(dir, 'config.yml'), [
      'version: 0.1',
      'log: { level: warn }',
      `storage: { filesystem: { rootdirectory: ${path.join(dir, 'storage')} } }`,
      `http: { addr: "127.0.0.1:${port}", secret: "${randomBytes(8).toString('hex')}" }`,
      `auth: { htpasswd: { realm: mayfly-test, path: ${path.join(dir, 'htpasswd')} } }`,
      '',
    ].join('\n'));
    registry = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    registry.stdout!.on('data', (d) => { registryLog += d; });
    registry.stderr!.on('data', (d) => { registryLog += d; });
    await waitUntil('the private registry to answer', 30_000, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      return res?.status === 401;
    });
    writeFileSync(path.join(dir, 'auth.json'), JSON.stringify({ auths: { [`127.0.0.1:${port}`]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));

    // A copy of the shop in the private registry (pulled from the shared one, which we only read).
    await follow(docker, await docker.pull(`${SHARED}/mayfly/shop:main`));
    const tag = `private-${randomBytes(3).toString('hex')}`;
    privateRef = `127.0.0.1:${port}/mayfly/shop:${tag}`;
    await docker.getImage(`${SHARED}/mayfly/shop:main`).tag({ repo: `127.0.0.1:${port}/mayfly/shop`, tag });
    await follow(docker, await docker.getImage(privateRef).push({ authconfig: { username: USER, password: PASSWORD, serveraddress: `127.0.0.1:${port}` } }));
    // Untag locally, so that the worker's pull really has to fetch it from the private registry.
    await docker.getImage(privateRef).remove({ noprune: true });

    const logger = createLogger('debug', 'registry-auth-test', { destination: { write: (line: string) => { logLines.push(line); } } });
    h = await startHarness({
      logger,
      // A generous health timeout: the shared machine is often loaded by other suites.
      env: { MAYFLY_ALLOWED_REGISTRIES: `${SHARED},127.0.0.1:${port}`, MAYFLY_REGISTRY_AUTH_FILE: path.join(dir, 'auth.json'), LOG_LEVEL: 'debug', MAYFLY_HEALTH_TIMEOUT: '5m' },
    });
  });

  after(async () => {
    try {
      await h?.close();
    } finally {
      // Whatever close did, the private registry goes: a live child would hold the test run open.
      await docker.getImage(privateRef).remove({ noprune: true }).catch(() => undefined);
      if (registry?.pid) registry.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when the worker pulls without credentials, or with a wrong password, then the registry refuses and the error holds no secret', async () => {
    const anonymous = new DockerRuntime(docker, h.config.instance);
    await assert.rejects(anonymous.pull(privateRef), (err: Error) => /auth|unauthorized|denied/i.test(err.message));
    const wrongPassword = `wrong-${randomBytes(8).toString('hex')}`;
    const wrong = new DockerRuntime(docker, h.config.instance, new RegistryCredentials([[`127.0.0.1:${port}`, { username: USER, password: wrongPassword }]]));
    await assert.rejects(wrong.pull(privateRef), (err: Error) => {
      const seen = `${err.message} ${JSON.stringify(err)} ${String((err as { cause?: unknown }).cause)}`;
      assert.ok(!seen.includes(wrongPassword) && !seen.includes(PASSWORD), seen);
      return true;
    });
  });

  it('when credentials come from MAYFLY_REGISTRY_AUTH_FILE, then an environment is provisioned from the private registry and the password is nowhere', async () => {
    const res = await h.api('PUT', '/api/v1/environments/private-shop?wait=400', { template: 'shop', images: { web: privateRef }, ttl: '30m' });
    assert.ok([200, 202].includes(res.status), JSON.stringify(res.body));
    const env = ['ready', 'failed'].includes(res.body.status) ? res.body
      : await waitUntil('ready', 400_000, async () => { const r = await h.api('GET', '/api/v1/environments/private-shop'); return ['ready', 'failed'].includes(r.body.status) && r.body; });
    // The pull with credentials worked (the image is only in the private registry, untagged locally).
    const pulled = (await h.store.events(env.id)).find((e) => e.type === 'pulled' && e.data?.image === privateRef);
    assert.ok(pulled, 'the private image was pulled');
    assert.match(String(pulled.data?.digest), new RegExp(`^127\\.0\\.0\\.1:${port}/mayfly/shop@sha256:`));
    const b64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    const leaks = (where: string, text: string) => {
      assert.ok(!text.includes(PASSWORD), `the password is in ${where}`);
      assert.ok(!text.includes(b64), `the base64 auth is in ${where}`);
    };
    assert.ok(logLines.length > 10, `the worker logged (${logLines.length} lines)`);
    leaks('the logs', logLines.join(''));
    leaks('the events', JSON.stringify((await h.pool.query('SELECT * FROM environment_events')).rows));
    leaks('the environment records', JSON.stringify((await h.pool.query('SELECT * FROM environments')).rows));
    leaks('the API answers', JSON.stringify([res.body, (await h.api('GET', '/api/v1/environments/private-shop/events')).body]));
    const redis = new Redis(h.config.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const dump = await dumpRedis(redis, h.config.queuePrefix);
      assert.ok(dump.includes('private-shop') || dump.includes(env.id), 'the dump holds this harness\'s jobs');
      leaks('the BullMQ job data', dump);
    } finally {
      redis.disconnect();
    }
    leaks('the configuration as logged', JSON.stringify(h.config));
    // Last, since it depends on the machine's load (the leak checks above hold either way).
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    const web = await h.docker.getContainer(`${(await h.store.getById(env.id))!.project}-web-1`).inspect();
    leaks('the container configuration', JSON.stringify(web.Config));
    assert.equal((await fetch(env.url, { headers: AUTH })).status, 200, 'the app answers through the router (previews are private: with the API token)');
  });

  it('when something logs an object holding credentials, then pino redacts them', () => {
    const lines: string[] = [];
    const log = createLogger('info', 'redact-test', { destination: { write: (l: string) => { lines.push(l); } } });
    log.info({ authconfig: { username: USER, password: PASSWORD }, opts: { password: PASSWORD }, config: { registryAuth: h.config.registryAuth } }, 'pulling');
    assert.ok(!lines.join('').includes(PASSWORD), lines.join(''));
    assert.match(lines.join(''), /\[redacted\]/);
  });

  it('configuration: a missing or malformed secret file stops the start naming the variable, never the secret', () => {
    assert.throws(() => loadRegistryCredentials({ MAYFLY_REGISTRY_AUTH_FILE: path.join(dir, 'nope.json') }, SHARED), (e: Error) => e instanceof ConfigError && /MAYFLY_REGISTRY_AUTH_FILE/.test(e.message));
    writeFileSync(path.join(dir, 'bad.json'), `{"auths": {"x": {"auth": "${PASSWORD}"`);
    assert.throws(() => loadRegistryCredentials({ MAYFLY_REGISTRY_AUTH_FILE: path.join(dir, 'bad.json') }, SHARED), (e: Error) => !e.message.includes(PASSWORD));
    assert.throws(() => loadRegistryCredentials({ MAYFLY_REGISTRY_USERNAME: 'u' }, SHARED), /MAYFLY_REGISTRY_PASSWORD_FILE/);
    writeFileSync(path.join(dir, 'password'), `${PASSWORD}\n`);
    const creds = loadRegistryCredentials({ MAYFLY_REGISTRY_USERNAME: 'u', MAYFLY_REGISTRY_PASSWORD_FILE: path.join(dir, 'password') }, SHARED);
    assert.deepEqual(creds.authFor(SHARED), { username: 'u', password: PASSWORD, serveraddress: SHARED });
    assert.equal(creds.authFor('other.example'), undefined);
    assert.ok(!JSON.stringify(creds).includes(PASSWORD));
  });
});
