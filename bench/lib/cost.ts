/**
 * What an environment costs the host, read from the kernel's own accounting:
 * - its containers' CPU time and peak memory (the Engine's stats, one shot: cgroup cpuacct usage
 *   and memory max usage since each container started, so at "ready" they cover request to
 *   ready for containers made for the request);
 * - the orchestration around them: CPU of this process (Mayfly's web and worker run in it; the
 *   benchmark's own polling too, for both contenders alike), of the child processes it waited
 *   for (docker-compose), and of the engine daemons (dockerd, containerd), as totals over a
 *   stretch of time that the caller divides among the environments of that stretch.
 */
import { readdir, readFile } from 'node:fs/promises';
import type Docker from 'dockerode';

const TICK = 100; // clock ticks per second (USER_HZ) on Linux

export interface ContainerCost { cpuSeconds: number; peakBytes: number; memoryBytes: number; containers: number }

interface Stats { cpu_stats?: { cpu_usage?: { total_usage?: number } }; memory_stats?: { max_usage?: number; usage?: number; stats?: Record<string, number> } }

/** The containers with these labels, summed. */
export async function containersCost(docker: Docker, labels: string[]): Promise<ContainerCost> {
  const list = await docker.listContainers({ all: true, filters: { label: labels } });
  const out: ContainerCost = { cpuSeconds: 0, peakBytes: 0, memoryBytes: 0, containers: 0 };
  await Promise.all(list.map(async (c) => {
    const s = await (docker.getContainer(c.Id).stats({ stream: false, 'one-shot': true } as never) as unknown as Promise<Stats>).catch(() => undefined);
    if (!s) return;
    out.containers++;
    out.cpuSeconds += (s.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9;
    const m = s.memory_stats ?? {};
    // cgroup v1 has max_usage; cgroup v2 has no peak in the stats API: current usage is the floor.
    out.peakBytes += m.max_usage ?? m.usage ?? 0;
    out.memoryBytes += Math.max(0, (m.usage ?? 0) - (m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0));
  }));
  return out;
}

async function procCpu(pid: string): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICK; // utime, stime
}

/** CPU seconds used so far by the engine daemons (dockerd, containerd). */
export async function engineCpuSeconds(): Promise<number> {
  let total = 0;
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (comm === 'dockerd' || comm === 'containerd') total += await procCpu(pid);
  }
  return total;
}

/** CPU seconds of this process and of the children it has waited for (docker-compose, psql clients). */
export async function selfCpuSeconds(): Promise<{ self: number; children: number }> {
  const u = process.cpuUsage();
  const stat = await readFile('/proc/self/stat', 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { self: (u.user + u.system) / 1e6, children: (Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) / TICK };
}

/** A stretch of time whose orchestration CPU is shared by the environments in it. */
export class CpuWindow {
  private constructor(private readonly at: { self: number; children: number; engine: number }) {}

  static async open(): Promise<CpuWindow> {
    return new CpuWindow({ ...(await selfCpuSeconds()), engine: await engineCpuSeconds() });
  }

  /** CPU seconds since open(): this process, waited-for children, engine daemons. */
  async close(): Promise<{ self: number; children: number; engine: number }> {
    const now = { ...(await selfCpuSeconds()), engine: await engineCpuSeconds() };
    return { self: now.self - this.at.self, children: now.children - this.at.children, engine: now.engine - this.at.engine };
  }
}
