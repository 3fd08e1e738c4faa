/**
 * The Docker Swarm the worker drives when MAYFLY_RUNTIME=swarm (docs/swarm.md): its Engine APIs.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type ConfigReader } from './read.js';

export interface SwarmEndpoint {
  /** unix:///path/docker.sock, or tcp://host:port (TLS with client certificates when `tlsDir` is set). */
  url: string;
}

export interface SwarmSettings {
  /** The manager's Engine API (services, tasks, networks, logs, nodes). */
  manager: SwarmEndpoint;
  /** Each node's own Engine API (exec, containers, volumes, golden builds, reaping), by hostname. */
  nodes: Record<string, SwarmEndpoint>;
  /** A folder with ca.pem, cert.pem and key.pem for every tcp:// endpoint (MAYFLY_SWARM_TLS_DIR). */
  tlsDir?: string;
  /** How long a task may stay pending for want of a node before its environment fails. */
  pendingGraceMs: number;
}


const ENDPOINT = /^(unix:\/\/\/.+|tcp:\/\/[\w.-]+:\d+)$/;

/** Parses `hostname=url,hostname2=url2` (MAYFLY_SWARM_NODES); throws with what is wrong. */
export function parseNodeList(value: string): Record<string, SwarmEndpoint> {
  const nodes: Record<string, SwarmEndpoint> = {};
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}" is not hostname=url`);
    const host = part.slice(0, eq).trim();
    const url = part.slice(eq + 1).trim();
    if (!ENDPOINT.test(url)) throw new Error(`node ${host}: "${url}" is neither unix:///path nor tcp://host:port`);
    if (nodes[host]) throw new Error(`node ${host} is listed twice`);
    nodes[host] = { url };
  }
  if (Object.keys(nodes).length === 0) throw new Error('names no node');
  return nodes;
}

/** The swarm's settings, read when MAYFLY_RUNTIME=swarm. */
export function loadSwarmConfig(env: NodeJS.ProcessEnv, read: ConfigReader): SwarmSettings {
  const manager = env.MAYFLY_SWARM_MANAGER ?? '';
  if (!ENDPOINT.test(manager)) throw new ConfigError('MAYFLY_SWARM_MANAGER', `must be unix:///path or tcp://host:port (the swarm manager's Engine API), got "${manager}"`);
  let nodes: Record<string, SwarmEndpoint>;
  try {
    nodes = parseNodeList(env.MAYFLY_SWARM_NODES ?? '');
  } catch (err) {
    throw new ConfigError('MAYFLY_SWARM_NODES', `must list every node's Engine API as hostname=unix:///path or hostname=tcp://host:port, comma-separated: ${(err as Error).message}`);
  }
  const tlsDir = env.MAYFLY_SWARM_TLS_DIR ? path.resolve(env.MAYFLY_SWARM_TLS_DIR) : undefined;
  if (tlsDir) {
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) {
      if (!existsSync(path.join(tlsDir, f))) throw new ConfigError('MAYFLY_SWARM_TLS_DIR', `must hold ca.pem, cert.pem and key.pem; ${f} is missing in ${tlsDir}`);
    }
  } else if ([manager, ...Object.values(nodes).map((n) => n.url)].some((u) => u.startsWith('tcp://'))) {
    throw new ConfigError('MAYFLY_SWARM_TLS_DIR', 'must be set when an Engine API is reached over tcp:// (a node\'s Engine API is root on that node: TLS with client certificates only)');
  }
  return { manager: { url: manager }, nodes, ...(tlsDir ? { tlsDir } : {}), pendingGraceMs: read.duration('MAYFLY_SWARM_PENDING_GRACE', '5s') };
}
