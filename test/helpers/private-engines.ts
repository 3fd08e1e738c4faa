/**
 * Private copies of the engines, for fault tests that must stop, kill or empty one. The shared
 * engines (dockerd, Redis on 6379, PostgreSQL on 5432, the registry on 5000) are never touched:
 * other test runs use them right now. Each engine here runs on its own port, socket and data
 * directory, and goes away when its `stop()` runs or, failing that, when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, chownSync, existsSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import pg from 'pg';

export interface PrivateEngine {
  /** Stops it cleanly and removes its temporary files. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: the crash case. */
  kill(): Promise<void>;
  /** Starts it again on the same port/socket and data (after kill() or on its own: stop-then-start). */
  restart(): Promise<void>;
  /** Process id of the running server (undefined while down). */
  pid(): number | undefined;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: whatever is still running when the test process exits gets its signal.

const running = new Map<ChildProcess, NodeJS.Signals>();
const tempDirs = new Set<string>();
function cleanUpAll(): void {
  for (const [child, signal] of running) { try { child.kill(signal); } catch { /* gone */ } }
  for (const dir of tempDirs) { try { rmSync(dir, { recursive: true, force: true }); } catch { /* busy */ } }
}
process.on('exit', cleanUpAll);
// A test run stopped from outside (the runner's timeout, Ctrl-C) must not leave engines behind.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => { cleanUpAll(); process.exit(128 + (sig === 'SIGTERM' ? 15 : 2)); });
}

function track(child: ChildProcess, exitSignal: NodeJS.Signals): ChildProcess {
  running.set(child, exitSignal);
  child.once('exit', () => running.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal`, waits up to `ms` for the exit, then SIGKILLs. */
async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals, ms: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const done = await Promise.race([exited(child).then(() => true), sleep(ms).then(() => false)]);
  if (!done) { child.kill('SIGKILL'); await exited(child); }
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function waitFor(what: string, ms: number, probe: () => Promise<boolean>, child?: ChildProcess, log?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what}: the process exited (${child.exitCode ?? child.signalCode})\n${log?.() ?? ''}`);
    if (Date.now() > deadline) throw new Error(`${what}: not up after ${ms} ms\n${log?.() ?? ''}`);
    await sleep(100);
  }
}

function collect(child: ChildProcess): () => string {
  let out = '';
  const add = (d: Buffer) => { out = (out + d.toString()).slice(-8000); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTemp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface PrivateRedis extends PrivateEngine {
  url: string;
  port: number;
  /** FLUSHALL on this private server only: Redis "emptied". */
  flush(): Promise<void>;
}

/** One command over RESP, answer as text (enough for PING and FLUSHALL). */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1');
    let out = '';
    s.setTimeout(3000, () => { s.destroy(); reject(new Error('redis: timeout')); });
    s.on('error', reject);
    s.on('data', (d) => { out += d.toString(); if (out.endsWith('\r\n')) { s.end(); resolve(out.trim()); } });
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

/** A redis-server on a random port with AOF on (fsync every write), so a restart keeps its data. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = tempDir('mayfly-fault-redis-');
  let child: ChildProcess | undefined;
  let log = () => '';
  const start = async () => {
    child = track(spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'always', '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
    ], { stdio: ['ignore', 'pipe', 'pipe'] }), 'SIGKILL');
    log = collect(child);
    await waitFor(`private redis on ${port}`, 15_000, async () => (await redisCommand(port, 'PING')) === '+PONG', child, log);
  };
  await start();
  let stopped = false;
  return {
    url: `redis://127.0.0.1:${port}`, port,
    pid: () => child?.pid,
    async flush() { const r = await redisCommand(port, 'FLUSHALL'); if (r !== '+OK') throw new Error(`FLUSHALL: ${r}`); },
    async kill() { await stopChild(child, 'SIGKILL', 1000); },
    async restart() { await stopChild(child, 'SIGKILL', 1000); await start(); },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(child, 'SIGTERM', 5000);
      removeTemp(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface PrivatePostgres extends PrivateEngine {
  /** postgres://mayfly:mayfly@127.0.0.1:<port>/mayfly (a superuser, like the shared one). */
  url: string;
  port: number;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A throwaway cluster (initdb as the postgres user in a temp dir), role and database `mayfly`. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = tempDir('mayfly-fault-pg-');
  const data = join(dir, 'data');
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  execFileSync(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { uid, gid, stdio: 'pipe', cwd: dir });
  let child: ChildProcess | undefined;
  let log = () => '';
  const start = async () => {
    child = track(spawn(join(PG_BIN, 'postgres'), [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=100',
    ], { uid, gid, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }), 'SIGQUIT');
    log = collect(child);
    await waitFor(`private postgres on ${port}`, 30_000, async () => {
      const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      c.on('error', () => undefined);
      await c.connect();
      await c.end();
      return true;
    }, child, log);
  };
  await start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query(`CREATE ROLE mayfly LOGIN SUPERUSER PASSWORD 'mayfly'`);
  await admin.query('CREATE DATABASE mayfly OWNER mayfly');
  await admin.end();
  let stopped = false;
  return {
    url: `postgres://mayfly:mayfly@127.0.0.1:${port}/mayfly`, port,
    pid: () => child?.pid,
    // SIGQUIT: immediate shutdown (no checkpoint; crash recovery at the next start), the
    // children go with the postmaster, unlike SIGKILL which would orphan them.
    async kill() { await stopChild(child, 'SIGQUIT', 10_000); },
    // SIGINT: "fast" shutdown, as pg_ctl restart -m fast: every connection is cut.
    async restart() { await stopChild(child, 'SIGINT', 20_000); await start(); },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(child, 'SIGINT', 20_000);
      removeTemp(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Docker daemon

export interface PrivateDockerd extends PrivateEngine {
  /** unix:///run/mayfly-fault-docker.sock */
  host: string;
  socketPath: string;
  docker: Docker;
}

const DOCKERD = {
  dataRoot: '/var/lib/mayfly/fault-dockerd', // kept between runs: its image cache
  execRoot: '/run/mayfly-fault-docker',
  pidfile: '/run/mayfly-fault-docker.pid',
  socket: '/run/mayfly-fault-docker.sock',
  // Its own default bridge. Never --bridge=none: with it, dockerd deletes the host's `docker0`
  // at start (removeDefaultBridgeInterface), which breaks the shared daemon's default network.
  // (It does the same with an address pool and no --live-restore: see the flags below.)
  bridge: 'mfault0',
  bridgeCidr: '10.214.0.1/24',
};

function ensureBridge(): void {
  if (existsSync(`/sys/class/net/${DOCKERD.bridge}`)) return;
  execFileSync('ip', ['link', 'add', 'name', DOCKERD.bridge, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', DOCKERD.bridgeCidr, 'dev', DOCKERD.bridge]);
  execFileSync('ip', ['link', 'set', DOCKERD.bridge, 'up']);
}

/**
 * A second dockerd with its own data root, exec root, socket and containerd, its own default
 * bridge (mfault0) and address pool, and hands off iptables (the shared daemon's rules stay).
 * Ports are still published on 127.0.0.1 (docker-proxy) and user-defined networks work.
 * One at a time on the machine (fixed socket path): a leftover one is stopped first.
 */
export async function startPrivateDockerd(): Promise<PrivateDockerd> {
  mkdirSync(DOCKERD.dataRoot, { recursive: true });
  mkdirSync(DOCKERD.execRoot, { recursive: true });
  await stopStale();
  ensureBridge();
  const hadDocker0 = existsSync('/sys/class/net/docker0');
  let child: ChildProcess | undefined;
  let log = () => '';
  const docker = new Docker({ socketPath: DOCKERD.socket });
  const start = async () => {
    child = track(spawn('dockerd', [
      '--data-root', DOCKERD.dataRoot, '--exec-root', DOCKERD.execRoot, '--pidfile', DOCKERD.pidfile,
      '-H', `unix://${DOCKERD.socket}`, `--bridge=${DOCKERD.bridge}`, '--iptables=false', '--ip-masq=false', '--ip-forward=false',
      '--default-address-pool', 'base=10.213.0.0/16,size=24', '--log-level=warn',
      // Without live-restore, a dockerd that has its own address pool deletes the host's
      // `docker0` at every start after the first (when it clears its stale default network).
      '--live-restore',
    ], { stdio: ['ignore', 'pipe', 'pipe'] }), 'SIGTERM');
    log = collect(child);
    await waitFor('private dockerd', 60_000, async () => { await docker.ping(); return true; }, child, log);
    if (hadDocker0 && !existsSync('/sys/class/net/docker0')) throw new Error('the private dockerd removed the shared daemon\'s docker0 bridge');
  };
  await start();
  let stopped = false;
  return {
    host: `unix://${DOCKERD.socket}`, socketPath: DOCKERD.socket, docker,
    pid: () => child?.pid,
    async kill() { await stopChild(child, 'SIGKILL', 1000); },
    async restart() {
      await stopChild(child, 'SIGKILL', 1000);
      await killManagedContainerd();
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(child, 'SIGTERM', 30_000);
      await killManagedContainerd();
    },
  };
}

/** dockerd's own containerd survives a SIGKILL of dockerd; it must not linger. */
async function killManagedContainerd(): Promise<void> {
  const pidfile = join(DOCKERD.execRoot, 'containerd', 'containerd.pid');
  if (!existsSync(pidfile)) return;
  const pid = Number(readFileSync(pidfile, 'utf8').trim());
  if (!pid) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 50; i++) {
    try { process.kill(pid, 0); } catch { return; }
    await sleep(100);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** A private dockerd left running by a killed test run (same pidfile): stop it. */
async function stopStale(): Promise<void> {
  if (!existsSync(DOCKERD.pidfile)) return;
  const pid = Number(readFileSync(DOCKERD.pidfile, 'utf8').trim());
  let alive = false;
  try { process.kill(pid, 0); alive = true; } catch { /* gone */ }
  if (alive) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes(DOCKERD.socket)) return; // not ours: never touch another daemon
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 300; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await sleep(100);
    }
  }
  await killManagedContainerd();
}

// ---------------------------------------------------------------------------------------------
// Registry

export interface PrivateRegistry extends PrivateEngine {
  /** host:port of the registry itself (push here). */
  address: string;
  /** host:port of a proxy in front of it, slowed to `throttleBytesPerSecond` (pull here). */
  slowAddress: string;
  /** Bytes the slow proxy has passed to clients so far. */
  bytesServed(): number;
}

/** Debian's docker-registry with its own config, storage directory and port, plus a slow proxy. */
export async function startPrivateRegistry(opts: { throttleBytesPerSecond?: number } = {}): Promise<PrivateRegistry> {
  const port = await freePort();
  const dir = tempDir('mayfly-fault-registry-');
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log: { level: error }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
    `http: { addr: 127.0.0.1:${port} }`,
    '',
  ].join('\n'));
  let child: ChildProcess | undefined;
  let log = () => '';
  const start = async () => {
    child = track(spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] }), 'SIGKILL');
    log = collect(child);
    await waitFor(`private registry on ${port}`, 15_000, async () => (await fetch(`http://127.0.0.1:${port}/v2/`)).ok, child, log);
  };
  await start();

  // The slow proxy: a pull through it takes long enough to be cut in the middle.
  const rate = opts.throttleBytesPerSecond ?? 1_000_000;
  let served = 0;
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    const forget = () => { sockets.delete(client); sockets.delete(upstream); };
    client.on('error', () => upstream.destroy());
    client.on('close', () => { upstream.destroy(); forget(); });
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    // Registry -> client at `rate` bytes per second; the end follows the last byte.
    void (async () => {
      for await (const chunk of upstream as AsyncIterable<Buffer>) {
        for (let i = 0; i < chunk.length; i += 16_384) {
          if (client.destroyed) return;
          const part = chunk.subarray(i, i + 16_384);
          client.write(part);
          served += part.length;
          await sleep(Math.ceil((part.length / rate) * 1000));
        }
      }
      client.end();
    })().catch(() => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const slowPort = (proxy.address() as AddressInfo).port;

  let stopped = false;
  const cut = () => { for (const s of sockets) s.destroy(); sockets.clear(); };
  return {
    address: `127.0.0.1:${port}`, slowAddress: `127.0.0.1:${slowPort}`,
    bytesServed: () => served,
    pid: () => child?.pid,
    // A registry that dies takes its connections with it, the proxied ones included.
    async kill() { await stopChild(child, 'SIGKILL', 1000); cut(); },
    async restart() { await stopChild(child, 'SIGKILL', 1000); cut(); await start(); },
    async stop() {
      if (stopped) return;
      stopped = true;
      cut();
      await new Promise((resolve) => proxy.close(resolve));
      await stopChild(child, 'SIGTERM', 5000);
      removeTemp(dir);
    },
  };
}
