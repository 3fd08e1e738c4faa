import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import {
  LABEL_COMPOSE_PROJECT, LABEL_COMPOSE_VOLUME, LABEL_DATASET, LABEL_ENV, LABEL_GOLDEN, LABEL_GOLDEN_BUILD, LABEL_HELPER, LABEL_INSTANCE,
  LABEL_PROBE, LABEL_ROLE, LABEL_SNAPSHOT, ROLE_CAPSULE, ROLE_CHECKPOINT, ROLE_DATA, ROLE_OVERLAY_LAYER, checkpointVolume, containerName, goldenBuildContainer, goldenVolume, probeVolume,
  upperVolume, volumeName,
} from '../../../core/domain/names.js';
import { MayflyError, PermanentFailure } from '../../../core/domain/errors.js';
import type { CloneVia, DataVolume, DatabaseSpec, Exec, LiveCopyTarget, ProbeResult, SnapshotEngine } from '../../seeds/engine.js';
import type { EnvironmentRef } from '../runtime.js';
import { dockerMessage, isConflict, isNotFound } from './errors.js';
import { execInContainer } from './exec.js';
import { HealthProber, lastCheckOutput, ProbedHealth } from './health.js';
import { demux } from './streams.js';
import { Volumes } from './volumes.js';

const MS = 1_000_000;
const run = promisify(execFile);

/**
 * Golden snapshots and clones on the Docker Engine. Every file operation runs in a short-lived
 * helper container (MAYFLY_HELPER_IMAGE) with the volumes mounted, so the worker needs no access
 * to the host's file system and the same code works against a remote engine.
 */
export class DockerSnapshotEngine implements SnapshotEngine {
  private helperReady?: Promise<void>;
  private readonly volumes: Volumes;

  constructor(
    private readonly docker: Docker, private readonly instance: string, private readonly helperImage: string,
    private readonly localVolumes = true,
    /** Shared with the runtime, so status pages see a database we brought back as healthy. */
    private readonly probedHealth: ProbedHealth = new ProbedHealth(),
  ) {
    this.volumes = new Volumes(docker, instance);
  }

  goldenVolume(key: string): string {
    return goldenVolume(this.instance, key);
  }

  private ensureHelper(): Promise<void> {
    this.helperReady ??= (async () => {
      const have = await this.docker.getImage(this.helperImage).inspect().then(() => true, () => false);
      if (have) return;
      const stream = await this.docker.pull(this.helperImage);
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
    })().catch((err) => {
      this.helperReady = undefined;
      throw new Error(`the helper image ${this.helperImage} could not be pulled (MAYFLY_HELPER_IMAGE): ${dockerMessage(err)}`, { cause: err });
    });
    return this.helperReady;
  }

  /** Runs `sh -c script` in a helper container with the given volumes; rejects with its output on failure. */
  private async helper(script: string, mounts: { volume: string; target: string; readOnly?: boolean }[], what: string): Promise<string> {
    await this.ensureHelper();
    const c = await this.docker.createContainer({
      Image: this.helperImage,
      Cmd: ['sh', '-c', script],
      Labels: { [LABEL_INSTANCE]: this.instance, [LABEL_HELPER]: what.slice(0, 60) },
      HostConfig: { Mounts: mounts.map((m) => ({ Type: 'volume' as const, Source: m.volume, Target: m.target, ReadOnly: !!m.readOnly })), NetworkMode: 'none' },
    });
    try {
      await c.start();
      const { StatusCode } = await c.wait();
      const out = demux((await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer).trim();
      if (StatusCode !== 0) throw new PermanentFailure('SNAPSHOT_FAILED', `${what} failed (exit ${StatusCode}): ${out.split('\n').slice(-3).join(' | ')}`);
      return out;
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
  }

  private async createVolume(name: string, labels: Record<string, string>, driverOpts?: Record<string, string>): Promise<void> {
    await this.docker.createVolume({ Name: name, Labels: { ...labels, [LABEL_INSTANCE]: this.instance }, ...(driverOpts ? { Driver: 'local', DriverOpts: driverOpts } : {}) });
  }

  private async mountpoint(name: string): Promise<string> {
    return (await this.docker.getVolume(name).inspect()).Mountpoint;
  }

  async volumeExists(name: string): Promise<boolean> {
    return this.docker.getVolume(name).inspect().then(() => true, (err) => (isNotFound(err) ? false : Promise.reject(err)));
  }

  async removeVolume(name: string): Promise<void> {
    for (const v of [name, upperVolume(name)]) await this.volumes.remove(v);
  }

  removeDataVolume(of: DataVolume): Promise<void> {
    return this.removeVolume(volumeName(of.env.project, of.volume));
  }

  /**
   * What this host can clone by. Each answer is "works", "not supported" (the file system or
   * kernel says so) or unsure (anything else failed: the caller probes again later). Reflink is
   * checked where clones will be copied: on the host when this process sees the volumes
   * (MAYFLY_LOCAL_VOLUMES), else in a helper container.
   */
  async probe(): Promise<ProbeResult> {
    const id = Math.random().toString(16).slice(2, 10);
    const a = probeVolume(id, 'a'), b = probeVolume(id, 'b'), u = probeVolume(id, 'u'), o = probeVolume(id, 'o');
    const labels = { [LABEL_PROBE]: '1' };
    const notes: Record<string, string> = {};
    const result: ProbeResult = { reflink: false, overlay: false, copy: false, notes, unsure: [] };
    const unsure = (strategy: string, err: unknown) => { result.unsure.push(strategy); notes[strategy] = `the probe failed (will probe again): ${dockerMessage(err)}`; };
    try {
      await this.createVolume(a, labels);
      await this.createVolume(b, labels);
      await this.helper('head -c 65536 /dev/urandom > /a/f && cp -a /a/f /b/copy', [{ volume: a, target: '/a' }, { volume: b, target: '/b' }], 'probe copy');
      result.copy = true;
      try {
        const local = this.localVolumes ? await this.hostDirs(a, b) : undefined;
        if (local) await run('cp', ['--reflink=always', `${local.from}/f`, `${local.to}/f`]);
        else await this.helper('cp --reflink=always /a/f /b/f', [{ volume: a, target: '/a' }, { volume: b, target: '/b' }], 'probe reflink');
        result.reflink = true;
      } catch (err) {
        const said = String((err as { stderr?: string }).stderr ?? (err as Error).message);
        if (/not supported|Invalid argument|Invalid cross-device link/i.test(said)) {
          notes.reflink = `the volume file system has no reflink (cp: ${said.trim().split('\n').pop()}); see docs/operations/reflink.md`;
        } else unsure('reflink', err);
      }
      try {
        await this.createVolume(u, labels);
        await this.helper('mkdir -p /u/upper /u/work', [{ volume: u, target: '/u' }], 'probe overlay layers');
        const lower = await this.mountpoint(a), upper = await this.mountpoint(u);
        await this.createVolume(o, labels, { type: 'overlay', device: 'overlay', o: `lowerdir=${lower},upperdir=${upper}/upper,workdir=${upper}/work` });
        await this.helper('test -f /o/f && echo x >> /o/f && echo y > /o/g', [{ volume: o, target: '/o' }], 'probe overlay');
        result.overlay = true;
      } catch (err) {
        // A mount refused by the kernel is an answer; a container or volume that vanished
        // under us (a reaper, a restart) is not.
        if (isNotFound(err) || isConflict(err)) unsure('overlay', err);
        else notes.overlay = `overlay volumes do not work here: ${(err as Error).message}`;
      }
    } catch (err) {
      for (const s of ['reflink', 'overlay', 'copy']) if (!result[s as 'copy'] && !result.unsure.includes(s)) unsure(s, err);
    } finally {
      for (const v of [o, u, b, a]) await this.docker.getVolume(v).remove().catch(() => undefined);
    }
    return result;
  }

  /** The host folders of two volumes, when this process sees them. */
  private async hostDirs(a: string, b: string): Promise<{ from: string; to: string } | undefined> {
    try {
      const [from, to] = await Promise.all([this.mountpoint(a), this.mountpoint(b)]);
      await Promise.all([readdir(from), readdir(to)]);
      return { from, to };
    } catch {
      return undefined;
    }
  }

  async buildGolden(key: string, volume: string, db: DatabaseSpec, load: (exec: Exec) => Promise<void>): Promise<{ sizeBytes: number | null }> {
    // Named per instance, like the golden volume: installations (or test runs) sharing a Docker host
    // build the same key side by side, and each removes a leftover builder of that name first.
    const name = goldenBuildContainer(this.instance, key);
    // A builder that died leaves its container and a half-made volume: both go first.
    await this.docker.getContainer(name).remove({ force: true }).catch(() => undefined);
    await this.removeVolume(volume);
    await this.createVolume(volume, { [LABEL_GOLDEN]: key });
    const c = await this.docker.createContainer({
      name,
      Image: db.image,
      Env: Object.entries(db.environment).map(([k, v]) => `${k}=${v}`),
      Labels: { [LABEL_INSTANCE]: this.instance, [LABEL_GOLDEN_BUILD]: key },
      ...(db.healthcheck ? {
        Healthcheck: {
          Test: db.healthcheck.test,
          // A throwaway container: checked at the start pace throughout.
          Interval: (db.healthcheck.startIntervalMs ?? db.healthcheck.intervalMs ?? 1000) * MS,
          ...(db.healthcheck.timeoutMs ? { Timeout: db.healthcheck.timeoutMs * MS } : {}),
          Retries: db.healthcheck.retries ?? 60,
        },
      } : {}),
      // PostgreSQL's parallel VACUUM and index builds use /dev/shm: Docker's 64 MB default is too small for large datasets.
      HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: db.dataTarget }], Memory: 1024 ** 3, ShmSize: 512 * 1024 ** 2, NetworkMode: 'none' },
    });
    try {
      await c.start();
      await waitReady(c, db, 300_000);
      const exec: Exec = (cmd, input) => execInContainer(c, cmd, input);
      await load(exec);
      // Settle the data so every clone starts from the same, fully written state.
      const settle = await exec(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', db.user, '-d', db.name, '-c', 'VACUUM ANALYZE', '-c', 'CHECKPOINT']);
      if (settle.exitCode !== 0) throw new PermanentFailure('SNAPSHOT_FAILED', `VACUUM ANALYZE / CHECKPOINT failed: ${settle.output.trim()}`);
      // A clean shutdown: an unclean one makes PostgreSQL recover (and open every file) in each clone.
      await c.stop({ t: 120 });
      const info = await c.inspect();
      if (info.State.ExitCode !== 0) throw new PermanentFailure('SNAPSHOT_FAILED', `the database did not shut down cleanly (exit ${info.State.ExitCode})`);
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
    return { sizeBytes: await this.size(volume) };
  }

  private async size(volume: string): Promise<number | null> {
    const out = await this.helper('du -sb /v | cut -f1', [{ volume, target: '/v', readOnly: true }], 'measure volume').catch(() => '');
    return /^\d+$/.test(out) ? Number(out) : null;
  }

  async clone(strategy: 'reflink' | 'overlay' | 'copy', golden: string, into: DataVolume, snapshot: string): Promise<CloneVia> {
    const target = volumeName(into.env.project, into.volume);
    const labels = { [LABEL_ENV]: into.env.id, [LABEL_COMPOSE_PROJECT]: into.env.project, [LABEL_COMPOSE_VOLUME]: into.volume, [LABEL_SNAPSHOT]: snapshot };
    await this.removeVolume(target);
    const mounts = (t: string) => [{ volume: golden, target: '/golden', readOnly: true }, { volume: t, target: '/clone' }];
    try {
      if (strategy === 'overlay') {
        const upper = upperVolume(target);
        await this.createVolume(upper, { ...labels, [LABEL_ROLE]: ROLE_OVERLAY_LAYER });
        // The writable layer must look like PGDATA itself: same owner, mode 0700.
        await this.helper('mkdir -p /clone/upper /clone/work && chown "$(stat -c %u:%g /golden)" /clone/upper && chmod "$(stat -c %a /golden)" /clone/upper',
          mounts(upper), 'prepare the overlay layer');
        const lower = await this.mountpoint(golden), up = await this.mountpoint(upper);
        await this.createVolume(target, { ...labels, [LABEL_ROLE]: ROLE_DATA }, { type: 'overlay', device: 'overlay', o: `lowerdir=${lower},upperdir=${up}/upper,workdir=${up}/work` });
        return 'helper';
      }
      await this.createVolume(target, { ...labels, [LABEL_ROLE]: ROLE_DATA });
      const reflink = `--reflink=${strategy === 'reflink' ? 'always' : 'never'}`;
      // When this process sees the engine's volume directories (a worker on the Docker host), it
      // copies itself: a helper container costs about half a second to start.
      const local = await this.localDirs(golden, target);
      if (local) {
        await run('cp', ['-a', reflink, `${local.from}/.`, `${local.to}/`], { maxBuffer: 1024 * 1024 }).catch((err: { stderr?: string }) => {
          throw new PermanentFailure('SNAPSHOT_FAILED', `${strategy} clone failed: ${(err.stderr ?? String(err)).trim().split('\n').slice(-3).join(' | ')}`);
        });
        return 'host';
      }
      await this.helper(`cp -a ${reflink} /golden/. /clone/`, mounts(target), `${strategy} clone`);
      return 'helper';
    } catch (err) {
      // A failed clone leaves no partial volume behind.
      await this.removeVolume(target).catch(() => undefined);
      if (err instanceof MayflyError) throw err;
      throw new PermanentFailure('CLONE_FAILED', `cloning the seed snapshot (${strategy}) failed: ${dockerMessage(err)}`, { cause: err });
    }
  }

  /**
   * The host directories of two volumes when this process can use them: both exist here, the
   * source holds files and the fresh target is empty (a worker in another mount namespace sees
   * neither). Undefined means "use a helper container". MAYFLY_LOCAL_VOLUMES=off forces helpers.
   */
  private async localDirs(source: string, target: string): Promise<{ from: string; to: string } | undefined> {
    if (!this.localVolumes) return undefined;
    try {
      const [from, to] = await Promise.all([this.mountpoint(source), this.mountpoint(target)]);
      const [inFrom, inTo] = await Promise.all([readdir(from), readdir(to)]);
      return inFrom.length > 0 && inTo.length === 0 ? { from, to } : undefined;
    } catch {
      return undefined;
    }
  }

  async saveVolume(from: DataVolume, golden: string, saved: { snapshot: string; dataset: string }, strategy: 'reflink' | 'overlay' | 'copy'): Promise<{ sizeBytes: number | null }> {
    const source = volumeName(from.env.project, from.volume);
    await this.removeVolume(golden);
    await this.createVolume(golden, { [LABEL_SNAPSHOT]: saved.snapshot, [LABEL_DATASET]: saved.dataset });
    try {
      // As the clones are made: a reflink copy where the host has reflink, a full copy otherwise
      // (never --reflink=auto, which would copy quietly where reflink was expected).
      await this.helper(`cp -a --reflink=${strategy === 'reflink' ? 'always' : 'never'} /src/. /dst/`, [{ volume: source, target: '/src', readOnly: true }, { volume: golden, target: '/dst' }], 'save snapshot');
    } catch (err) {
      await this.removeVolume(golden).catch(() => undefined);
      throw err;
    }
    return { sizeBytes: await this.size(golden) };
  }

  async copyLive(from: DataVolume, service: string, into: LiveCopyTarget, strategy: 'reflink' | 'copy'): Promise<{ pauseMs: number; sizeBytes: number | null; via: CloneVia }> {
    const source = volumeName(from.env.project, from.volume);
    const target = into.kind === 'checkpoint' ? checkpointVolume(into.env.project, into.id) : into.kind === 'capsule' ? into.volume : volumeName(into.into.env.project, into.into.volume);
    const labels: Record<string, string> = into.kind === 'checkpoint'
      ? { [LABEL_ENV]: into.env.id, [LABEL_COMPOSE_PROJECT]: into.env.project, [LABEL_ROLE]: ROLE_CHECKPOINT, [LABEL_SNAPSHOT]: into.id }
      // A capsule outlives its environment: no environment label (teardown and the reaper pass it by).
      : into.kind === 'capsule' ? { [LABEL_ROLE]: ROLE_CAPSULE, [LABEL_SNAPSHOT]: into.id }
      : { [LABEL_ENV]: into.into.env.id, [LABEL_COMPOSE_PROJECT]: into.into.env.project, [LABEL_COMPOSE_VOLUME]: into.into.volume, [LABEL_ROLE]: ROLE_DATA, [LABEL_SNAPSHOT]: into.snapshot };
    if (!(await this.volumeExists(source))) throw new PermanentFailure('DATABASE_VOLUME_MISSING', `the data volume ${source} is gone: there is nothing to copy`);
    await this.removeVolume(target);
    await this.createVolume(target, labels);
    const c = this.docker.getContainer(containerName(from.env.project, service));
    const state = await c.inspect().then((i) => i.State, (err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    const running = !!state?.Running && !state.Paused;
    const reflink = `--reflink=${strategy === 'reflink' ? 'always' : 'never'}`;
    // Found before the pause: the pause holds only the copy itself.
    const local = await this.localDirs(source, target);
    let pauseMs = 0;
    try {
      const started = Date.now();
      if (running) await c.pause();
      try {
        if (local) {
          await run('cp', ['-a', reflink, `${local.from}/.`, `${local.to}/`], { maxBuffer: 1024 * 1024 }).catch((err: { stderr?: string }) => {
            throw new PermanentFailure('SNAPSHOT_FAILED', `${strategy} copy of ${source} failed: ${(err.stderr ?? String(err)).trim().split('\n').slice(-3).join(' | ')}`);
          });
        } else {
          await this.helper(`cp -a ${reflink} /src/. /dst/`, [{ volume: source, target: '/src', readOnly: true }, { volume: target, target: '/dst' }], `${strategy} copy of ${service}'s data`);
        }
      } finally {
        if (running) await c.unpause().catch((err) => (isConflict(err) ? undefined : Promise.reject(err)));
        pauseMs = Date.now() - started;
      }
      if (running) await this.waitHealthy(c, service, 120_000, true);
      // The copy is of a running server: its lock file would name a process of the original.
      if (local) await rm(`${local.to}/postmaster.pid`, { force: true });
      else await this.helper('rm -f /dst/postmaster.pid', [{ volume: target, target: '/dst' }], 'drop the copied lock file');
    } catch (err) {
      await this.removeVolume(target).catch(() => undefined);
      if (err instanceof MayflyError) throw err;
      throw new PermanentFailure('SNAPSHOT_FAILED', `copying ${source} (${strategy}) failed: ${dockerMessage(err)}`, { cause: err });
    }
    // A fork's copy is the fork's own database: nobody reads its size, so none is measured.
    const sizeBytes = into.kind === 'data' ? null : local ? await duBytes(local.to) : await this.size(target);
    return { pauseMs, sizeBytes, via: local ? 'host' : 'helper' };
  }

  async removeService(env: EnvironmentRef, service: string): Promise<void> {
    await this.docker.getContainer(containerName(env.project, service)).remove({ force: true, v: true })
      .catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }

  async stopService(env: EnvironmentRef, service: string): Promise<void> {
    await this.docker.getContainer(containerName(env.project, service)).stop({ t: 60 })
      .catch((err) => (isNotFound(err) || (err as { statusCode?: number }).statusCode === 304 ? undefined : Promise.reject(err)));
  }

  async startService(env: EnvironmentRef, service: string, healthTimeoutMs: number): Promise<void> {
    const c = this.docker.getContainer(containerName(env.project, service));
    await c.start().catch((err) => ((err as { statusCode?: number }).statusCode === 304 ? undefined : Promise.reject(err)));
    await this.waitHealthy(c, service, healthTimeoutMs);
  }

  /**
   * Waits until a service that was started again (or unpaused) is healthy, probing its own
   * healthcheck meanwhile (shared with the runtime): Docker's verdict may say unhealthy for a
   * while after checks failed during a pause, and would stay so until its next check.
   */
  private async waitHealthy(c: Docker.Container, service: string, healthTimeoutMs: number, afterPause = false): Promise<void> {
    const deadline = Date.now() + healthTimeoutMs;
    // Its own healthcheck, run while we wait: Docker's next check may be a long interval away.
    const prober = new HealthProber(c, this.probedHealth);
    for (;;) {
      const info = await c.inspect();
      const st = info.State;
      if (!st.Running) throw new PermanentFailure('SERVICE_EXITED', `${service} exited with code ${st.ExitCode} after restarting`);
      // Unpaused: Docker says unhealthy until its next check, an interval away (staleUnhealthy);
      // its own probe passing decides (the runtime's health wait and status pages read it so too).
      if (!st.Health || prober.seesHealthy(info)) return;
      // Unpaused: checks that ran into the pause may have failed; its own probe decides, until the deadline.
      if (st.Health.Status === 'unhealthy' && !afterPause) throw new PermanentFailure('SERVICE_UNHEALTHY', `${service} is unhealthy after restarting: ${lastCheckOutput(st)}`);
      if (Date.now() > deadline) throw new PermanentFailure('HEALTH_TIMEOUT', `${service} was not healthy in time after restarting`);
      if (info.Config.Healthcheck) prober.maybeProbe(info.Config.Healthcheck);
      await prober.nextLook(250);
    }
  }
}

/** A host directory's size in bytes (as the helper's `du -sb` measures a volume), or null. */
async function duBytes(dir: string): Promise<number | null> {
  const out = await run('du', ['-sb', dir]).then((r) => r.stdout.split('\t')[0] ?? '', () => '');
  return /^\d+$/.test(out) ? Number(out) : null;
}

/** Waits until the throwaway database answers: by its healthcheck, or by pg_isready. */
async function waitReady(c: Docker.Container, db: DatabaseSpec, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await c.inspect();
    if (!info.State.Running) {
      const logs = demux((await c.logs({ stdout: true, stderr: true, tail: 20 })) as unknown as Buffer);
      throw new PermanentFailure('SNAPSHOT_FAILED', `the database for the golden snapshot exited (code ${info.State.ExitCode}): ${logs.trim().split('\n').slice(-3).join(' | ')}`);
    }
    if (info.State.Health) {
      if (info.State.Health.Status === 'healthy') return;
    } else {
      const r = await execInContainer(c, ['pg_isready', '-q', '-U', db.user, '-d', db.name]).catch(() => ({ exitCode: 1, output: '' }));
      if (r.exitCode === 0) return;
    }
    if (Date.now() > deadline) throw new PermanentFailure('SNAPSHOT_FAILED', 'the database for the golden snapshot did not start in time');
    await sleep(250);
  }
}
