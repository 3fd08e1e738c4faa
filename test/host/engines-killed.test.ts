/**
 * The machine's own engines killed as a crash or an OOM kill does (SIGKILL), with the mount a
 * dead dockerd of the old layout left behind, then set-up: everything comes back, with reflink,
 * and every volume that existed is still there with its data (issue 21, point 5).
 *
 * This file stops the shared engines, so `npm test` runs it on its own, before the other suites
 * (scripts/test.sh), never beside them.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { projectRoot } from '../../core/config/config.js';
import { alive, enginePids, killEngines } from '../helpers/host-engines.js';
import { assertHostHasReflink } from '../helpers/seed-checks.js';

const run = promisify(execFile);
const docker = new Docker();

describe('the machine\'s engines killed, then set-up', { timeout: 900_000 }, () => {
  const tag = `hosttest-${process.pid}`;
  const volumes = [`mayfly-${tag}-a`, `mayfly-${tag}-b`];
  let rootBind: string | undefined;
  after(async () => {
    if (rootBind) await run('umount', ['-l', rootBind]).catch(() => undefined);
    await docker.getContainer(`mayfly-${tag}`).remove({ force: true }).catch(() => undefined);
    for (const v of volumes) await docker.getVolume(v).remove().catch(() => undefined);
  });

  it('when dockerd, containerd, Redis, PostgreSQL and the registry are killed with SIGKILL and a stale bind hides Docker\'s data, then set-up brings every engine back, with reflink, and every volume with its data', async () => {
    // Volumes with data, one of them in use by a running container.
    for (const v of volumes) {
      await docker.createVolume({ Name: v, Labels: { 'mayfly.test': tag } });
      writeFileSync(join((await docker.getVolume(v).inspect()).Mountpoint, 'kept.txt'), `data of ${v}\n`);
    }
    const image = `${process.env.MAYFLY_REGISTRY ?? '127.0.0.1:5000'}/mayfly/debian:bookworm`;
    const c = await docker.createContainer({ name: `mayfly-${tag}`, Image: image, Cmd: ['sleep', 'infinity'], Labels: { 'mayfly.test': tag },
      HostConfig: { Mounts: [{ Type: 'volume', Source: volumes[0]!, Target: '/data' }] } });
    await c.start();
    const volumesBefore = ((await docker.listVolumes()).Volumes ?? []).map((v) => v.Name).sort();

    // The crash: every engine SIGKILLed at once.
    await killEngines();

    // What a dead dockerd of the old layout left: its data root bound onto itself from the plain
    // disk beneath, on top of the XFS (the ROOT column of mountinfo is /var/lib/docker).
    rootBind = mkdtempSync(join(tmpdir(), 'mayfly-rootfs-'));
    await run('mount', ['--bind', '/', rootBind]);
    await run('mount', ['--bind', join(rootBind, 'var/lib/docker'), '/var/lib/docker']);
    assert.notEqual((await run('stat', ['-f', '-c', '%T', '/var/lib/docker'])).stdout.trim(), 'xfs', 'the stale bind hides the XFS');

    const started = Date.now();
    const out = await run('bash', ['scripts/setup.sh'], { cwd: projectRoot(), maxBuffer: 16 * 1024 * 1024, timeout: 600_000 })
      .catch((err: { stdout?: string; stderr?: string; code?: number }) => assert.fail(`set-up failed (exit ${err.code}):\n${err.stderr}`));
    const said = `${out.stdout}${out.stderr}`;
    console.log(`set-up after the crash took ${Date.now() - started} ms:\n${said}`);
    assert.match(said, /removing a stale bind mount of \/var\/lib\/docker/, said);
    assert.match(said, /reflink works in \/var\/lib\/docker\/volumes/, said);

    // Every engine answers.
    await docker.ping();
    assert.equal((await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping'])).stdout.trim(), 'PONG');
    await run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']);
    assert.equal((await fetch(`http://${process.env.MAYFLY_REGISTRY ?? '127.0.0.1:5000'}/v2/`)).status, 200);
    for (const [name, list] of Object.entries(enginePids())) assert.ok(list.length > 0 && list.every(alive), `${name} runs again`);

    // Reflink where the worker clones, and every volume with its data.
    assert.equal((await run('stat', ['-f', '-c', '%T', '/var/lib/docker/volumes'])).stdout.trim(), 'xfs');
    await assertHostHasReflink(docker);
    const volumesAfter = ((await docker.listVolumes()).Volumes ?? []).map((v) => v.Name).sort();
    assert.deepEqual(volumesBefore.filter((v) => !volumesAfter.includes(v)), [], 'no volume went missing');
    for (const v of volumes) {
      assert.equal(readFileSync(join((await docker.getVolume(v).inspect()).Mountpoint, 'kept.txt'), 'utf8'), `data of ${v}\n`);
    }
    // The container is known to the new dockerd and starts again on its volume.
    await c.start().catch((err: { statusCode?: number }) => { if (err.statusCode !== 304) throw err; });
    const exec = await c.exec({ Cmd: ['cat', '/data/kept.txt'], AttachStdout: true });
    const stream = await exec.start({});
    const chunks: Buffer[] = [];
    await new Promise((resolve) => { stream.on('data', (b: Buffer) => chunks.push(b)); stream.on('end', resolve); });
    assert.match(Buffer.concat(chunks).toString(), new RegExp(`data of ${volumes[0]}`));
  });
});
