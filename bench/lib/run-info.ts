/**
 * What every benchmark result file records about its run, so that a number can be traced to the
 * code and the conditions that produced it: the commit (and whether the tree had uncommitted
 * changes), the knobs (every BENCH_* and MAYFLY_* variable set, plus what the benchmark resolved
 * them to), the machine, and the load average before the run and after it.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { projectRoot } from '../../core/config/config.js';

export interface RunInfo {
  commit: string;
  /** Uncommitted changes in the tree when the run started (the numbers are then not the commit's alone). */
  dirty: boolean;
  command: string;
  knobs: Record<string, string | number | boolean>;
  machine: Record<string, string>;
  loadBefore: number[];
  loadAfter?: number[];
  startedAt: string;
  finishedAt?: string;
}

const sh = (cmd: string, args: string[]): string => {
  try { return execFileSync(cmd, args, { encoding: 'utf8', cwd: projectRoot(), stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return '?'; }
};

/** Called at the very start of a benchmark. `resolved`: the knobs as the benchmark understood them. */
export function startRun(command: string, resolved: Record<string, string | number | boolean>): RunInfo {
  const set = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(BENCH|MAYFLY)_/.test(k)).map(([k, v]) => [k, v ?? '']));
  return {
    commit: sh('git', ['rev-parse', 'HEAD']),
    dirty: sh('git', ['status', '--porcelain', '--untracked-files=no']) !== '',
    command,
    knobs: { ...set, ...resolved },
    machine: {
      cpu: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
      kernel: os.release(),
      node: process.version,
      docker: sh('docker', ['version', '-f', '{{.Server.Version}}']),
      dockerCompose: sh('docker-compose', ['version', '--short']),
    },
    loadBefore: os.loadavg().map((l) => Number(l.toFixed(2))),
    startedAt: new Date().toISOString(),
  };
}

/** Called just before the results are written. */
export function finishRun(info: RunInfo): RunInfo {
  return { ...info, loadAfter: os.loadavg().map((l) => Number(l.toFixed(2))), finishedAt: new Date().toISOString() };
}

/** The run in Markdown, for the top of a result file. */
export function runInfoMarkdown(info: RunInfo): string {
  const knobs = Object.entries(info.knobs).map(([k, v]) => `\`${k}=${v}\``).join(', ');
  return `Commit \`${info.commit.slice(0, 12)}\`${info.dirty ? ' **with uncommitted changes**' : ''}; \`${info.command}\`, ${info.startedAt} to ${info.finishedAt ?? '?'}.\n`
    + `Machine: ${info.machine.cpu}, ${info.machine.memory}, Linux ${info.machine.kernel}, Docker ${info.machine.docker}, docker-compose ${info.machine.dockerCompose}, Node ${info.machine.node}.\n`
    + `Load average (1, 5, 15 min) before ${info.loadBefore.join(' ')}, after ${info.loadAfter?.join(' ') ?? '?'}.\n`
    + `Knobs: ${knobs || 'none'}.\n`;
}

export const percentile = (xs: number[], p: number): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
export const median = (xs: number[]): number => percentile(xs, 50);
