/** Shared pieces of the fault tests: catching the moment to strike, and checking what is left. */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import type { Environment } from '../../core/domain/environment.js';
import { waitUntil, type Harness } from './harness.js';

/** The shop template and `tiny` (test/faults/templates: one light service with a volume), side by side. */
function faultTemplates(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-fault-templates-'));
  cpSync(fileURLToPath(new URL('../../templates/shop', import.meta.url)), join(dir, 'shop'), { recursive: true });
  cpSync(fileURLToPath(new URL('../faults/templates/tiny', import.meta.url)), join(dir, 'tiny'), { recursive: true });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Harness settings of the fault tests: the shop and `tiny` templates; health may take long on a loaded machine. */
export const FAULT_ENV: Record<string, string> = {
  MAYFLY_TEMPLATES_DIR: faultTemplates(),
  MAYFLY_HEALTH_TIMEOUT: '4m',
};

export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

/**
 * Resolves with the first Docker event that matches `filters` and `match`; the subscription
 * starts before this returns, so whatever the caller does next cannot slip past it.
 */
export async function nextDockerEvent(
  docker: Docker, filters: Record<string, string[]>, match: (e: DockerEvent) => boolean = () => true, timeoutMs = 300_000,
): Promise<{ event: Promise<DockerEvent>; cancel: () => void }> {
  const stream = (await docker.getEvents({ filters })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  let buf = '';
  let timer: NodeJS.Timeout | undefined;
  const event = new Promise<DockerEvent>((resolve, reject) => {
    // An event that never comes fails the test with its filters, and the stream does not keep the
    // test process alive (the runner would wait for it forever).
    timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`no Docker event matching ${JSON.stringify(filters)} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as DockerEvent;
        if (match(e)) { stream.destroy(); resolve(e); return; }
      }
    });
    stream.on('error', reject);
  }).finally(() => clearTimeout(timer));
  event.catch(() => undefined);
  return { event, cancel: () => { clearTimeout(timer); stream.destroy(); } };
}

/** Waits until the environment is ready, failed or destroyed, and returns it. */
export function settled(h: Harness, id: string, timeoutMs = 240_000): Promise<Environment> {
  return waitUntil(`environment ${id} to settle`, timeoutMs, async () => {
    const env = await h.store.getById(id);
    return env && ['ready', 'failed', 'destroyed'].includes(env.status) ? env : undefined;
  });
}

/** Waits until the environment has an event of this type (returns its events). */
export function eventSeen(h: Harness, id: string, type: string, timeoutMs = 120_000) {
  return waitUntil(`a "${type}" event of ${id}`, timeoutMs, async () => {
    const events = await h.store.events(id);
    return events.some((e) => e.type === type) ? events : undefined;
  });
}

export interface Leftovers {
  /**
   * Objects of this instance whose environment has no live row, or a failed one (but the data
   * volumes a failed environment that was ever ready keeps until its lease ends).
   */
  unrecorded: string[];
  /** Objects named after one of the environments' compose projects that carry no mayfly.env label. */
  unlabeled: string[];
}

/**
 * What the daemon holds that PostgreSQL does not account for. Golden snapshot volumes (labeled
 * mayfly.golden, recorded in seed_snapshots) are accounted for.
 */
export async function leftovers(h: Harness, docker: Docker, projects: string[]): Promise<Leftovers> {
  const instance = { label: [`mayfly.instance=${h.config.instance}`] };
  const [containers, networks, volumes] = await Promise.all([
    docker.listContainers({ all: true, filters: instance }),
    docker.listNetworks({ filters: instance }),
    docker.listVolumes({ filters: instance }),
  ]);
  const { rows } = await h.pool.query<{ id: string; status: string; keeps_data: boolean }>(
    `SELECT id, status, status = 'failed' AND expires_at > now()
       AND EXISTS (SELECT 1 FROM environment_events e WHERE e.environment_id = environments.id AND e.type = 'ready') AS keeps_data
     FROM environments`);
  const status = new Map(rows.map((r) => [r.id, r.status]));
  // A failed environment that was ever ready keeps its data volumes until its lease ends.
  const keepsData = new Set(rows.filter((r) => r.keeps_data).map((r) => r.id));
  const { rows: goldens } = await h.pool.query<{ volume: string }>('SELECT volume FROM seed_snapshots').catch(() => ({ rows: [] as { volume: string }[] }));
  const goldenVolumes = new Set(goldens.map((g) => g.volume));
  const unrecorded: string[] = [];
  const live = (envId: string | undefined, allowFailed: boolean) => {
    const s = envId ? status.get(envId) : undefined;
    return !!s && s !== 'destroyed' && (allowFailed || s !== 'failed');
  };
  for (const c of containers) if (!live(c.Labels['mayfly.env'], false)) unrecorded.push(`container ${c.Names[0]} (${c.Labels['mayfly.helper'] ?? c.Labels['mayfly.golden-build'] ?? c.Labels['mayfly.env']})`);
  for (const n of networks) if (!live(n.Labels?.['mayfly.env'], false)) unrecorded.push(`network ${n.Name}`);
  for (const v of volumes.Volumes ?? []) {
    if (v.Labels?.['mayfly.golden'] && goldenVolumes.has(v.Name)) continue;
    if (v.Labels?.['com.docker.compose.volume'] && keepsData.has(v.Labels['mayfly.env'] ?? '')) continue;
    if (!live(v.Labels?.['mayfly.env'], false)) unrecorded.push(`volume ${v.Name}`);
  }
  const unlabeled: string[] = [];
  if (projects.length) {
    const [allC, allN, allV] = await Promise.all([docker.listContainers({ all: true }), docker.listNetworks(), docker.listVolumes()]);
    const ours = (name: string) => projects.some((p) => name.replace(/^\//, '').startsWith(p));
    for (const c of allC) if (c.Names.some(ours) && !c.Labels['mayfly.env']) unlabeled.push(`container ${c.Names[0]}`);
    for (const n of allN) if (ours(n.Name) && !n.Labels?.['mayfly.env']) unlabeled.push(`network ${n.Name}`);
    for (const v of allV.Volumes ?? []) if (ours(v.Name) && !v.Labels?.['mayfly.env']) unlabeled.push(`volume ${v.Name}`);
  }
  return { unrecorded, unlabeled };
}

/** Waits until nothing is left over (the reconciler may need a few runs). */
export async function noLeftovers(h: Harness, docker: Docker, projects: string[], timeoutMs = 60_000): Promise<void> {
  let last: Leftovers = { unrecorded: [], unlabeled: [] };
  try {
    await waitUntil('no leftovers', timeoutMs, async () => {
      last = await leftovers(h, docker, projects);
      return last.unrecorded.length + last.unlabeled.length === 0;
    });
  } catch {
    throw new Error(`left over: ${JSON.stringify(last)}`);
  }
}

/**
 * Makes an image that the daemon does not have yet: `sourceImage` plus a layer of random bytes
 * (so a pull of it really transfers data), pushed to `registry` as `<registry>/mayfly/fault:<tag>`,
 * and removed locally again. Returns the reference (by `pullRegistry`, default the same registry).
 */
export async function pushFreshImage(docker: Docker, sourceImage: string, registry: string, megabytes: number, pullRegistry = registry): Promise<string> {
  const tag = `fault-${randomBytes(4).toString('hex')}`;
  const pushRef = `${registry}/mayfly/fault:${tag}`;
  const src = await docker.getImage(sourceImage).inspect();
  const write = ['sh', '-c', `head -c ${megabytes}M /dev/urandom > /fault-ballast`];
  // Replace whichever of entrypoint/command the image runs, and put it back in the commit.
  const hasEntrypoint = !!src.Config.Entrypoint?.length;
  const c = await docker.createContainer({
    Image: sourceImage, User: 'root', ...(hasEntrypoint ? { Entrypoint: write, Cmd: [] } : { Cmd: write }),
    Labels: { 'mayfly.fault-test': '1' }, HostConfig: { NetworkMode: 'none' },
  });
  try {
    await c.start();
    const { StatusCode } = await c.wait();
    if (StatusCode !== 0) throw new Error(`writing the ballast layer failed (exit ${StatusCode})`);
    const changes = [
      ...(hasEntrypoint ? [`ENTRYPOINT ${JSON.stringify(src.Config.Entrypoint)}`] : []),
      `CMD ${JSON.stringify(src.Config.Cmd ?? [])}`,
      `USER ${src.Config.User || 'root'}`,
    ];
    await c.commit({ repo: `${registry}/mayfly/fault`, tag, changes });
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
  // The engine wants an X-Registry-Auth header even for a registry without auth.
  const stream = (await docker.getImage(pushRef).push({ authconfig: { serveraddress: registry } } as Parameters<Docker.Image["push"]>[0])) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
    const e = err ?? out.find((o) => o.error);
    if (e) reject(new Error(`push ${pushRef}: ${err ? err.message : (e as { error: string }).error}`)); else resolve();
  }));
  await docker.getImage(pushRef).remove({ force: true }).catch(() => undefined);
  return `${pullRegistry}/mayfly/fault:${tag}`;
}

/** Removes an image reference this test made, if the daemon has it. */
export async function removeImage(docker: Docker, ref: string): Promise<void> {
  await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
}
