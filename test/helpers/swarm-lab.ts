/**
 * A private 3-node Docker Swarm for the swarm tests (scripts/swarm-lab.sh): each node a dockerd
 * with its own containerd in its own network namespace, the registry reachable from the nodes at
 * 10.241.0.1:5000 (a pipe to the host's registry), the root namespace joined to the hub at
 * 10.241.0.254 so the worker and the router reach node addresses. The host's own dockerd,
 * containerd, registry, Redis and PostgreSQL are never touched. The worker reaches the manager (n1)
 * on its unix socket and every other node at tcp://10.241.0.1I:2376 with TLS and the lab's client
 * certificate (MAYFLY_SWARM_TLS_DIR); the tests inspect every node on its unix socket.
 *
 * startSwarmLab() is idempotent (a running lab with as many nodes is reused); stop() takes it all
 * down, and so does the test process's exit when stop() was not reached.
 * MAYFLY_SWARM_LAB_KEEP=1 leaves it running after the tests (for the next run, or a look around).
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { projectRoot } from '../../core/config/config.js';

const run = promisify(execFile);
const SCRIPT = path.join(projectRoot(), 'scripts', 'swarm-lab.sh');
/** The lab's folder, as the script picks it. */
const LAB_DIR = process.env.MAYFLY_SWARM_LAB || '/tmp/mayfly-swarm-lab';

export interface LabNode {
  host: string;
  /** The node's unix socket ($LAB/nI/docker.sock), for the tests' own inspection. */
  socket: string;
  /** The node's Engine API as the worker reaches it (MAYFLY_SWARM_NODES): unix:// for the manager, tcp:// with TLS for the others. */
  url: string;
  /** The node's address in the hub (published ports answer there). */
  addr: string;
  docker: Docker;
}

export interface SwarmLab {
  nodes: LabNode[];
  manager: Docker;
  /** The registry as the nodes (and the worker) reach it. */
  registry: string;
  /** MAYFLY_RUNTIME, MAYFLY_SWARM_MANAGER, MAYFLY_SWARM_NODES, MAYFLY_SWARM_TLS_DIR, MAYFLY_REGISTRY for a harness. */
  env: Record<string, string>;
  /** The lab's folder (MAYFLY_SWARM_LAB, /tmp/mayfly-swarm-lab by default). */
  dir: string;
  /** The client certificate's folder (ca.pem, cert.pem, key.pem): MAYFLY_SWARM_TLS_DIR. */
  tlsDir: string;
  node(host: string): LabNode;
  /** The node (by id) the manager knows under a hostname, and back. */
  nodeId(host: string): Promise<string>;
  hostOf(nodeId: string): Promise<string>;
  stop(): Promise<void>;
}

let stopOnExit = false;
process.on('exit', () => {
  if (stopOnExit && process.env.MAYFLY_SWARM_LAB_KEEP !== '1') spawnSync('bash', [SCRIPT, 'down'], { stdio: 'ignore' });
});

function script(args: string[]): Promise<{ stdout: string; stderr: string }> {
  // The lab's registry pipe runs on this process's node.
  return run('bash', [SCRIPT, ...args], { env: { ...process.env, NODE_BIN: process.execPath }, maxBuffer: 4 * 1024 * 1024 });
}

export async function startSwarmLab(count = 3): Promise<SwarmLab> {
  stopOnExit = true;
  try {
    await script(['up', String(count)]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`the swarm lab did not start: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
  const env: Record<string, string> = {};
  for (const line of (await script(['env'])).stdout.trim().split('\n')) {
    const eq = line.indexOf('=');
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  // The worker's endpoints may be tcp://; the tests inspect each node on its unix socket (the script's $LAB/nI/docker.sock).
  const nodes: LabNode[] = env.MAYFLY_SWARM_NODES!.split(',').map((part, i) => {
    const [host, url] = part.split('=') as [string, string];
    const socket = path.join(LAB_DIR, `n${i + 1}`, 'docker.sock');
    return { host, socket, url, addr: `10.241.0.1${i + 1}`, docker: new Docker({ socketPath: socket }) };
  });
  const manager = nodes[0]!.docker;
  const ids = async () => new Map((await manager.listNodes()).map((n) => [n.Description!.Hostname!, n.ID!]));
  return {
    nodes, manager, registry: env.MAYFLY_REGISTRY!, env, dir: LAB_DIR, tlsDir: env.MAYFLY_SWARM_TLS_DIR!,
    node(host) {
      const n = nodes.find((x) => x.host === host);
      if (!n) throw new Error(`the lab has no node ${host}`);
      return n;
    },
    async nodeId(host) { return (await ids()).get(host)!; },
    async hostOf(id) { return [...(await ids())].find(([, v]) => v === id)?.[0] ?? id; },
    async stop() {
      if (process.env.MAYFLY_SWARM_LAB_KEEP === '1') return;
      await script(['down']);
      stopOnExit = false;
    },
  };
}

/** Every object on every node (and the manager's services and networks) that carries a label. */
export async function labelledEverywhere(lab: SwarmLab, label: string): Promise<Record<string, { containers: number; volumes: number }> & { services: number; networks: number }> {
  const filters = { label: [label] };
  const out = { services: (await lab.manager.listServices({ filters })).length, networks: (await lab.manager.listNetworks({ filters })).length } as
    Record<string, { containers: number; volumes: number }> & { services: number; networks: number };
  for (const n of lab.nodes) {
    out[n.host] = {
      containers: (await n.docker.listContainers({ all: true, filters })).length,
      volumes: ((await n.docker.listVolumes({ filters })).Volumes ?? []).length,
    };
  }
  return out;
}
