/**
 * The machine's own engines as set-up starts them, for the tests in test/host that kill them
 * (never a fault test's private engines, never beside other test files).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const STATE = process.env.MAYFLY_STATE_DIR ?? '/var/lib/mayfly';

export const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const pidFile = (f: string) => (existsSync(f) ? Number(readFileSync(f, 'utf8').split('\n')[0]!.trim()) || undefined : undefined);
const pgrep = (args: string[]) => { try { return execFileSync('pgrep', args, { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number); } catch { return []; } };

/** Process ids of dockerd, containerd, Redis, PostgreSQL and the registry, by engine. */
export function enginePids(): Record<string, number[]> {
  const pgDir = readdirSync('/var/lib/postgresql').sort().pop();
  return {
    dockerd: [pidFile('/var/run/docker.pid')].filter((p): p is number => !!p),
    containerd: pgrep(['-x', 'containerd']).filter((p) => !readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('mayfly-fault')),
    redis: [pidFile(join(STATE, 'redis', 'redis.pid'))].filter((p): p is number => !!p),
    postgres: [pidFile(`/var/lib/postgresql/${pgDir}/main/postmaster.pid`)].filter((p): p is number => !!p),
    registry: pgrep(['-f', `docker-registry serve ${STATE}/registry.yml`]),
  };
}

/** SIGKILLs every engine at once, as a crash or a power cut does, and waits until they are gone. */
export async function killEngines(): Promise<void> {
  const pids = enginePids();
  for (const [name, list] of Object.entries(pids)) if (list.length === 0) throw new Error(`${name} does not run before the crash: ${JSON.stringify(pids)}`);
  for (const pid of Object.values(pids).flat()) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && Object.values(pids).flat().some(alive); i++) await sleep(100);
  if (Object.values(pids).flat().some(alive)) throw new Error(`an engine survived SIGKILL: ${JSON.stringify(pids)}`);
}
