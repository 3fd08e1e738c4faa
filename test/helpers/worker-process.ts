/**
 * The worker as its own process (`node --import tsx worker/main.ts`), joined to a harness's
 * database, queue prefix and instance through the harness's config variables, so a test can
 * SIGKILL it, SIGTERM it and start it again, as an operator or a crash would.
 * Use with startHarness({ worker: false }): the harness then serves only the API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Harness } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const alive = new Set<ChildProcess>();
const killAll = () => { for (const c of alive) { try { c.kill('SIGKILL'); } catch { /* gone */ } } };
process.on('exit', killAll);
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { killAll(); process.exit(128 + (sig === 'SIGTERM' ? 15 : 2)); });

export interface WorkerExit { code: number | null; signal: NodeJS.Signals | null }

export class WorkerProcess {
  private child: ChildProcess | undefined;
  private out = '';
  private lines = 0;
  private exit: Promise<WorkerExit> | undefined;

  private constructor(private readonly env: Record<string, string | undefined>) {}

  /** Spawns a worker for the harness and waits until it consumes jobs. */
  static async start(h: Harness, extraEnv: Record<string, string> = {}): Promise<WorkerProcess> {
    const w = new WorkerProcess({ ...process.env, ...h.configEnv, LOG_LEVEL: 'info', ...extraEnv });
    await w.spawn();
    return w;
  }

  /** The last part of its output (JSON log lines), for assertion messages. */
  output(): string {
    return this.out.slice(-6000);
  }

  /** How many lines it has written so far (stdout and stderr). */
  lineCount(): number {
    return this.lines;
  }

  /** Everything it printed that is kept (the last 200 kB), for searching its log lines. */
  log(): string {
    return this.out;
  }

  /** The parsed JSON log lines with this message. */
  logLines(msg: string): Record<string, unknown>[] {
    return this.out.split('\n').filter((l) => l.startsWith('{')).flatMap((l) => {
      try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; }
    }).filter((o) => o.msg === msg);
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async spawn(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    alive.add(child);
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => { alive.delete(child); resolve({ code, signal }); }));
    let started = false;
    const onData = (d: Buffer) => {
      const text = d.toString();
      this.lines += text.split('\n').length - 1;
      this.out = (this.out + text).slice(-200_000);
      if (!started && this.out.includes('"worker started"')) started = true;
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const deadline = Date.now() + 90_000;
    while (!started) {
      if (!this.running()) throw new Error(`the worker process exited before it started:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`the worker process did not start in 90 s:\n${this.output()}`);
      await sleep(100);
    }
  }

  /** Sends a signal and waits for the exit (SIGKILL follows after `timeoutMs`). */
  async signal(sig: NodeJS.Signals, timeoutMs = 180_000): Promise<WorkerExit> {
    if (!this.running()) return this.exit!;
    this.child!.kill(sig);
    const result = await Promise.race([this.exit!, sleep(timeoutMs).then(() => undefined)]);
    if (result) return result;
    this.child!.kill('SIGKILL');
    throw new Error(`the worker did not exit within ${timeoutMs} ms of ${sig}:\n${this.output()}`);
  }

  kill(): Promise<WorkerExit> {
    return this.signal('SIGKILL', 10_000);
  }

  /** A new process with the same configuration (the old one must have exited). */
  async restart(): Promise<void> {
    if (this.running()) throw new Error('restart: the worker still runs; kill or stop it first');
    await this.spawn();
  }

  /** Stops it gracefully (cleanup in after hooks). */
  async stop(): Promise<void> {
    if (this.running()) await this.signal('SIGTERM', 60_000).catch(() => this.kill());
  }
}
