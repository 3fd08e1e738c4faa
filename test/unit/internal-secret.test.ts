import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../core/config/config.js';
import { INTERNAL_SECRET_FILE, loadOrCreateSecretFile, workerInternalSecret } from '../../core/platform/internal-secret.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = path.join(ROOT, 'core/platform/internal-secret.ts');

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mayfly-secret-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("the worker's internal secret", () => {
  it('when none is given, then the first start makes a random one in the state directory, mode 0600, and the next start reads the same', (t) => {
    const stateDir = path.join(tempDir(t), 'not-made-yet');
    const config = loadConfig({ MAYFLY_STATE_DIR: stateDir });
    assert.equal(config.stateDir, stateDir);
    assert.equal(config.web.workerInternalSecret, undefined, 'nothing is given, so nothing is in the config');
    assert.equal(config.web.workerInternalSecretFile, path.join(stateDir, INTERNAL_SECRET_FILE));
    assert.equal(existsSync(config.web.workerInternalSecretFile), false, 'loading the configuration writes nothing');

    const first = workerInternalSecret(config.web);
    assert.ok(first.length >= 32, first);
    const st = statSync(config.web.workerInternalSecretFile);
    assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
    assert.equal(readFileSync(config.web.workerInternalSecretFile, 'utf8').trim(), first);
    assert.deepEqual(readdirSync(stateDir), [INTERNAL_SECRET_FILE], 'no temporary file is left behind');

    const second = workerInternalSecret(loadConfig({ MAYFLY_STATE_DIR: stateDir }).web);
    assert.equal(second, first, 'a second start reads the same secret');
  });

  it('when DATABASE_URL is the same, then two installations still get different secrets, neither the old HMAC of DATABASE_URL', (t) => {
    const DATABASE_URL = 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';
    const a = workerInternalSecret(loadConfig({ DATABASE_URL, MAYFLY_STATE_DIR: tempDir(t) }).web);
    const b = workerInternalSecret(loadConfig({ DATABASE_URL, MAYFLY_STATE_DIR: tempDir(t) }).web);
    assert.notEqual(a, b);
    const derivable = createHmac('sha256', 'mayfly-worker-internal').update(DATABASE_URL).digest('base64url');
    assert.notEqual(a, derivable);
    assert.notEqual(b, derivable);
  });

  it('when several processes start at once on an empty state directory, then they all end with the same secret', async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'state', INTERNAL_SECRET_FILE);
    const go = path.join(dir, 'go');
    // Each child loads the module, says it is ready, waits for the go file, then races the others.
    const script = `
      import { existsSync } from 'node:fs';
      import { loadOrCreateSecretFile } from ${JSON.stringify(MODULE)};
      process.stdout.write('ready\\n');
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (!existsSync(${JSON.stringify(go)})) Atomics.wait(nap, 0, 0, 1);
      process.stdout.write('secret=' + loadOrCreateSecretFile(${JSON.stringify(file)}) + '\\n');
    `;
    const children = Array.from({ length: 6 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => { if (out.includes('ready\n')) resolve(); });
        child.once('exit', () => reject(new Error(`a child exited before it was ready: ${err}`)));
      });
      const done = new Promise<string>((resolve, reject) => child.once('exit', (code) => {
        const m = /secret=(\S+)/.exec(out);
        if (code === 0 && m) resolve(m[1]!);
        else reject(new Error(`a child failed (exit ${code}): ${err}`));
      }));
      return { ready, done };
    });
    await Promise.all(children.map((c) => c.ready));
    writeFileSync(go, '');
    const secrets = await Promise.all(children.map((c) => c.done));
    assert.equal(new Set(secrets).size, 1, `every process got the same secret: ${secrets.join(', ')}`);
    assert.equal(readFileSync(file, 'utf8').trim(), secrets[0]);
    assert.deepEqual(readdirSync(path.dirname(file)), [INTERNAL_SECRET_FILE], 'the losers removed their candidates');
  });

  it('when the secret is given by variable or file, then it is used as given and nothing is written', (t) => {
    const stateDir = tempDir(t);
    const given = 'given-secret-0123456789';
    const byVar = loadConfig({ MAYFLY_STATE_DIR: stateDir, MAYFLY_WORKER_INTERNAL_SECRET: given });
    assert.equal(workerInternalSecret(byVar.web), given);
    const secretFile = path.join(tempDir(t), 'secret');
    writeFileSync(secretFile, `${given}-from-file\n`);
    const byFile = loadConfig({ MAYFLY_STATE_DIR: stateDir, MAYFLY_WORKER_INTERNAL_SECRET_FILE: secretFile });
    assert.equal(workerInternalSecret(byFile.web), `${given}-from-file`);
    assert.deepEqual(readdirSync(stateDir), [], 'no file made in the state directory');
  });

  it('when the given secret is wrong, then the configuration error names the variable', (t) => {
    assert.throws(() => loadConfig({ MAYFLY_WORKER_INTERNAL_SECRET: 'short' }), /MAYFLY_WORKER_INTERNAL_SECRET must be at least 16/);
    const missing = path.join(tempDir(t), 'nope');
    assert.throws(() => loadConfig({ MAYFLY_WORKER_INTERNAL_SECRET_FILE: missing }), (err: Error) => err.message.includes('MAYFLY_WORKER_INTERNAL_SECRET_FILE') && err.message.includes(missing) && err.message.includes('ENOENT'));
    const short = path.join(tempDir(t), 'short');
    writeFileSync(short, 'tiny\n');
    assert.throws(() => loadConfig({ MAYFLY_WORKER_INTERNAL_SECRET_FILE: short }), /MAYFLY_WORKER_INTERNAL_SECRET_FILE names a file holding fewer than 16/);
    assert.throws(() => loadConfig({ MAYFLY_WORKER_INTERNAL_SECRET: 'given-secret-0123456789', MAYFLY_WORKER_INTERNAL_SECRET_FILE: short }), /both set/);
  });

  it('when the kept file may be read by others or is too short, then it is refused with the fix, not used', (t) => {
    const file = path.join(tempDir(t), INTERNAL_SECRET_FILE);
    const secret = loadOrCreateSecretFile(file);
    chmodSync(file, 0o644);
    assert.throws(() => loadOrCreateSecretFile(file), (err: Error) => err.message.includes('may be read by other users (mode 644)') && err.message.includes(`chmod 600 ${file}`) && !err.message.includes(secret));
    chmodSync(file, 0o600);
    assert.equal(loadOrCreateSecretFile(file), secret);
    writeFileSync(file, 'short\n');
    assert.throws(() => loadOrCreateSecretFile(file), /shorter than 16 characters: remove the file/);
  });

  it('when the state directory cannot be made, then the error names it and what to set', (t) => {
    // A file where the directory should be: refused for root too (ENOTDIR), unlike a read-only folder.
    const blocker = path.join(tempDir(t), 'a-file');
    writeFileSync(blocker, '');
    assert.throws(() => loadOrCreateSecretFile(path.join(blocker, 'state', INTERNAL_SECRET_FILE)),
      (err: Error) => err.message.includes(path.join(blocker, 'state')) && /MAYFLY_STATE_DIR.*MAYFLY_WORKER_INTERNAL_SECRET/.test(err.message));
  });

  it('when nothing says otherwise, then the internal endpoint listens on 127.0.0.1; a host that is not an IP is refused', () => {
    assert.equal(loadConfig({}).web.workerInternalHost, '127.0.0.1');
    assert.equal(loadConfig({ MAYFLY_WORKER_INTERNAL_HOST: '::1' }).web.workerInternalHost, '::1');
    assert.throws(() => loadConfig({ MAYFLY_WORKER_INTERNAL_HOST: 'localhost' }), /MAYFLY_WORKER_INTERNAL_HOST must be an IP address/);
  });
});
