/**
 * `mayfly`: Mayfly's command line for CI pipelines and people. Configured by MAYFLY_URL and
 * MAYFLY_TOKEN. Results go to stdout (for `up --wait`, only the URL, so `URL=$(mayfly up ...)`
 * works); progress and errors go to stderr. Exit codes: see EXIT in cli/client.ts and docs/doors.md.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { formatBytes } from '../core/domain/bytes.js';
import { parseDuration } from '../core/domain/duration.js';
import { parseArgs, UsageError } from './args.js';
import { CliError, EXIT, MayflyClient, type CapsuleRestoreRequest, type Environment, type EnvironmentRequest } from './client.js';

/** "1.5 GiB", "340 MiB", or "-" while unknown. */
function bytes(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : formatBytes(n);
}

/** Rows as aligned columns under a header. */
function table(head: string[], rows: string[][], io: Out): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  for (const r of [head, ...rows]) io.out(r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd());
}

const USAGE = `usage: mayfly <command> [options]

  up --template <t> [--name <n>] [--tag <tag>] [--image service=tag ...] [--seed <dataset>]
     [--ttl <duration>] [--callback-url <url>] [--wait] [--timeout <duration, default 10m>]
                          create or redeploy an environment; with --wait, print its URL when ready
  down <name> [--wait] [--timeout <duration>]   destroy an environment
  ls [--all]                                   list environments (--all: destroyed ones too)
  status <name>                                show one environment
  extend <name> <ttl>                          move its lease end to <ttl> from now
  logs <name>                                  print its event timeline
  datasets [--all]                             list saved datasets (--all: the seed-data/ ones too)
  datasets rm <name>                           delete a saved dataset (its team or an admin)
  checkpoint <name>                            take a checkpoint of its database now
  checkpoints <name>                           list its checkpoints (newest first)
  rewind <name> <checkpoint> [--wait] [--timeout <duration, default 10m>]
                                               bring a checkpoint back into its database
  fork <name> <for> [--wait] [--timeout <duration, default 10m>]
                                               fork it for someone: <name>--<for>, a copy of its data
  capsule <name> [--name <n>] [--note <text>]  take a bug capsule: its data, digests, stack, logs, requests
  capsules <name>                              list its bug capsules (also of a destroyed one)
  deploy <name> --capsule <id> [--ttl <d>] [--wait] [--timeout <d>]
                                               bring a bug capsule up as a new environment <name>

environment: MAYFLY_URL (e.g. https://mayfly.example), MAYFLY_TOKEN (an API token)
exit codes: 0 ok, 1 failed / refused, 2 usage, 3 timeout, 4 auth or connection`;

const SETTLED = ['ready', 'sleeping', 'failed', 'destroyed'];
type Out = { out: (s: string) => void; err: (s: string) => void };

function client(env: NodeJS.ProcessEnv): MayflyClient {
  const url = env.MAYFLY_URL;
  const token = env.MAYFLY_TOKEN;
  if (!url) throw new CliError('MAYFLY_URL is not set (the address of Mayfly, e.g. https://mayfly.example)', EXIT.AUTH_OR_CONNECTION);
  if (!token) throw new CliError('MAYFLY_TOKEN is not set (an API token from MAYFLY_API_TOKENS)', EXIT.AUTH_OR_CONNECTION);
  try {
    if (!/^https?:$/.test(new URL(url).protocol)) throw new Error('not http');
  } catch {
    throw new CliError(`MAYFLY_URL is not an http(s) URL: "${url}"`, EXIT.AUTH_OR_CONNECTION);
  }
  return new MayflyClient(url.replace(/\/$/, ''), token);
}

function duration(flag: string, value: string | true | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const s = typeof value === 'string' ? parseDuration(value) : undefined;
  if (s === undefined) throw new UsageError(`--${flag} must be a duration such as 90s, 10m or 2h`);
  return s;
}

/** The body of `up`: the template, tags, seed, ttl, callback and --image pairs. */
function upBody(flags: Record<string, string | true>, lists: Record<string, string[]>): EnvironmentRequest {
  const body: EnvironmentRequest = { template: flags.template as string };
  for (const key of ['tag', 'seed', 'ttl'] as const) if (typeof flags[key] === 'string') body[key] = flags[key];
  if (typeof flags['callback-url'] === 'string') body.callbackUrl = flags['callback-url'];
  if (lists.image?.length) {
    const images: Record<string, string> = {};
    for (const pair of lists.image) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--image must be service=tag, got "${pair}"`);
      images[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    body.images = images;
  }
  return body;
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0]!;
}

/** Polls until the environment settles or the deadline passes (long-polls of at most 30 s). */
async function waitSettled(api: MayflyClient, name: string, deadline: number, io: Out, want: string[] = SETTLED): Promise<Environment> {
  let last = '';
  for (;;) {
    const left = Math.floor((deadline - Date.now()) / 1000);
    const env = await api.get(name, Math.max(1, Math.min(30, left)), 45_000);
    if (env.status !== last) { io.err(`${name}: ${env.status}`); last = env.status; }
    if (want.includes(env.status)) return env;
    if (Date.now() >= deadline) return env;
    await sleep(200);
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv, io: Out): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, {
      booleans: ['wait', 'all', 'help'],
      values: ['template', 'name', 'tag', 'seed', 'ttl', 'timeout', 'callback-url', 'note', 'capsule'],
      lists: ['image'],
    });
    if (args.flags.help || args.command === 'help') { io.out(USAGE); return EXIT.OK; }
    if (!args.command) throw new UsageError('no command given');
    return await dispatch(args, env, io);
  } catch (err) {
    if (err instanceof UsageError) { io.err(`mayfly: ${err.message}\n\n${USAGE}`); return EXIT.USAGE; }
    if (err instanceof CliError) { io.err(`mayfly: ${err.message}`); return err.exitCode; }
    io.err(`mayfly: unexpected error: ${(err as Error).message}`);
    return EXIT.FAILED;
  }
}

async function dispatch(args: ReturnType<typeof parseArgs>, env: NodeJS.ProcessEnv, io: Out): Promise<number> {
  const { command, positionals, flags, lists } = args;
  const onlyFor = (allowed: string[]) => {
    for (const f of [...Object.keys(flags), ...Object.keys(lists)]) if (!allowed.includes(f)) throw new UsageError(`--${f} does not apply to "${command}"`);
  };
  switch (command) {
    case 'deploy':
    case 'up': {
      let body: EnvironmentRequest | CapsuleRestoreRequest;
      let name = typeof flags.name === 'string' ? flags.name : undefined;
      if (command === 'deploy') {
        // A bug capsule brought up as a new environment: its template, seed, digests and data.
        onlyFor(['capsule', 'ttl', 'timeout', 'wait']);
        name = one(positionals, 'environment name');
        if (typeof flags.capsule !== 'string') throw new UsageError('deploy needs --capsule <id> (mayfly capsules <name> lists them); use "up" for a template');
        body = { capsule: flags.capsule, ...(typeof flags.ttl === 'string' ? { ttl: flags.ttl } : {}) };
      } else {
        onlyFor(['template', 'name', 'tag', 'seed', 'ttl', 'timeout', 'wait', 'image', 'callback-url']);
        if (positionals.length) throw new UsageError(`"up" takes options only, got "${positionals[0]}"`);
        if (typeof flags.template !== 'string') throw new UsageError('up needs --template');
        body = upBody(flags, lists);
      }
      const timeout = duration('timeout', flags.timeout, 600);
      const api = client(env);
      const deadline = Date.now() + timeout * 1000;
      const e = await api.deploy(body, name);
      io.err(`${e.name}: ${e.action} (${e.status}), lease ${e.ttl}, expires ${e.expiresAt}`);
      if (!flags.wait) { io.out(e.url ?? e.name); return EXIT.OK; }
      const settled = SETTLED.includes(e.status) && e.action === 'unchanged' ? e : await waitSettled(api, e.name, deadline, io);
      // A sleeping environment's address wakes it on the first request: as good as ready.
      if (settled.status === 'ready' || settled.status === 'sleeping') { io.out(settled.url ?? ''); return EXIT.OK; }
      if (settled.status === 'failed') {
        io.err(`mayfly: ${e.name} failed: ${settled.failure?.code ?? 'FAILED'}: ${settled.failure?.message ?? ''}\n` +
          `  timeline: mayfly logs ${e.name}; retry after fixing the tag: mayfly up --name ${e.name} ...`);
        return EXIT.FAILED;
      }
      if (settled.status === 'destroyed') {
        io.err(`mayfly: ${e.name} was destroyed before it was ready (reason: ${settled.destroyReason ?? 'destroyed'})`);
        return EXIT.FAILED;
      }
      io.err(`mayfly: ${e.name} is still ${settled.status} after ${timeout} s (--timeout); it keeps going: mayfly status ${e.name}`);
      return EXIT.TIMEOUT;
    }
    case 'down': {
      onlyFor(['wait', 'timeout']);
      const name = one(positionals, 'environment name');
      const timeout = duration('timeout', flags.timeout, 300);
      const api = client(env);
      const res = await api.destroy(name);
      io.err(`${name}: ${res.status}`);
      if (!flags.wait || res.status === 'destroyed') { io.out(`${name} ${res.status}`); return EXIT.OK; }
      const settled = await waitSettled(api, name, Date.now() + timeout * 1000, io, ['destroyed']);
      if (settled.status === 'destroyed') { io.out(`${name} destroyed`); return EXIT.OK; }
      io.err(`mayfly: ${name} is still ${settled.status} after ${timeout} s`);
      return EXIT.TIMEOUT;
    }
    case 'ls': {
      onlyFor(['all']);
      if (positionals.length) throw new UsageError('"ls" takes no arguments');
      const list = await client(env).list(flags.all === true);
      if (!list.length) { io.err('no environments'); return EXIT.OK; }
      const rows = list.map((e) => [e.name, e.template, e.status, e.door ?? '', e.owner, e.status === 'destroyed' ? `gone: ${e.destroyReason}` : `${e.expiresInSeconds}s left`, e.url ?? '']);
      table(['NAME', 'TEMPLATE', 'STATUS', 'DOOR', 'OWNER', 'LEASE', 'URL'], rows.map((r) => r.map(String)), io);
      return EXIT.OK;
    }
    case 'datasets': {
      if (positionals[0] === 'rm') {
        onlyFor([]);
        if (positionals.length !== 2) throw new UsageError('datasets rm needs exactly one dataset name');
        const d = await client(env).deleteDataset(positionals[1]!);
        io.err(`${d.name}: deleted (saved by ${d.owner ?? '?'} of team ${d.team}); removing ${d.volumes?.length ?? 0} volume(s)${d.delivery === 'deferred' ? ' once the job queue answers' : ''}`);
        io.out(`${d.name} deleted`);
        return EXIT.OK;
      }
      onlyFor(['all']);
      if (positionals.length) throw new UsageError(`"datasets" takes no arguments but "rm <name>", got "${positionals[0]}"`);
      const list = (await client(env).datasets()).filter((d) => flags.all === true || d.kind === 'saved');
      if (!list.length) { io.err(flags.all ? 'no datasets' : 'no saved datasets (mayfly datasets --all shows the seed-data/ ones too)'); return EXIT.OK; }
      table(['NAME', 'KIND', 'STATUS', 'OWNER', 'TEAM', 'SIZE', 'SOURCE', 'CREATED'], list.map((d) => d.kind === 'saved'
        ? [d.name, 'saved', d.status ?? '', d.owner ?? '?', d.team ?? '', bytes(d.sizeBytes), `${d.source?.environment ?? '?'} (${d.source?.template ?? '?'})`, d.createdAt ?? '']
        : [d.name, 'dataset', '', '', '', '', 'seed-data/', '']), io);
      return EXIT.OK;
    }
    case 'capsule': {
      onlyFor(['name', 'note']);
      const c = await client(env).capsule(one(positionals, 'environment name'), {
        ...(typeof flags.name === 'string' ? { name: flags.name } : {}), ...(typeof flags.note === 'string' ? { note: flags.note } : {}),
      });
      io.err(`${c.environment}: bug capsule ${c.id} ("${c.name}") recorded with the router's recent requests; the worker takes the rest (mayfly capsules ${c.environment})\n` +
        `  archive: ${c.links.archive}\n  bring it up: mayfly deploy <new-name> --capsule ${c.id}`);
      io.out(c.id);
      return EXIT.OK;
    }
    case 'capsules': {
      onlyFor([]);
      const list = await client(env).capsules(one(positionals, 'environment name'));
      if (!list.length) { io.err('no bug capsules'); return EXIT.OK; }
      table(['ID', 'NAME', 'STATUS', 'SIZE', 'BY', 'CREATED', 'NOTE'], list.map((c) => [c.id, c.name, c.status + (c.error ? ` (${c.error})` : ''),
        bytes(c.sizeBytes), c.createdBy, c.createdAt, c.note.slice(0, 60)]), io);
      return EXIT.OK;
    }
    case 'checkpoint': {
      onlyFor([]);
      const c = await client(env).checkpoint(one(positionals, 'environment name'));
      io.err(`${c.environment}: checkpoint ${c.id} recorded; the worker takes it (mayfly checkpoints ${c.environment})`);
      io.out(c.id);
      return EXIT.OK;
    }
    case 'checkpoints': {
      onlyFor([]);
      const list = await client(env).checkpoints(one(positionals, 'environment name'));
      if (!list.length) { io.err('no checkpoints'); return EXIT.OK; }
      table(['ID', 'REASON', 'STATUS', 'PAUSE', 'SIZE', 'BY', 'CREATED'], list.map((c) => [c.id, c.reason, c.status + (c.error ? ` (${c.error})` : ''),
        c.pauseMs === null ? '-' : `${c.pauseMs} ms`, bytes(c.sizeBytes), c.createdBy, c.createdAt]), io);
      return EXIT.OK;
    }
    case 'rewind':
    case 'fork': {
      onlyFor(['wait', 'timeout']);
      if (positionals.length !== 2) throw new UsageError(`${command} needs <name> <${command === 'rewind' ? 'checkpoint' : 'for'}>`);
      const [name, arg] = positionals as [string, string];
      // Read before the call: a bad --timeout is a usage error that rewinds or forks nothing.
      const timeout = duration('timeout', flags.timeout, 600);
      const api = client(env);
      const deadline = Date.now() + timeout * 1000;
      const e = command === 'rewind' ? await api.rewind(name, arg) : await api.fork(name, arg);
      io.err(command === 'rewind' ? `${e.name}: rewinding to ${arg}` : `${e.name}: forked from ${name}`);
      if (!flags.wait) { io.out(`${e.name} ${e.status}`); return EXIT.OK; }
      const settled = await waitSettled(api, e.name, deadline, io);
      io.out(`${settled.name} ${settled.status}${settled.url ? ` ${settled.url}` : ''}`);
      // As for up: a sleeping environment wakes on its first request, as good as ready.
      if (settled.status === 'ready' || settled.status === 'sleeping') return EXIT.OK;
      if (SETTLED.includes(settled.status)) return EXIT.FAILED;
      io.err(`mayfly: ${e.name} is still ${settled.status} after ${timeout} s (--timeout); it keeps going: mayfly status ${e.name}`);
      return EXIT.TIMEOUT;
    }
    case 'status': {
      onlyFor([]);
      const e = await client(env).get(one(positionals, 'environment name'));
      const lines = [
        `name:     ${e.name}`, `status:   ${e.status}`, `template: ${e.template}`, `owner:    ${e.owner} (via ${e.door})`,
        `images:   ${Object.entries(e.images).map(([k, v]) => `${k}=${v}`).join(', ')}`,
        `url:      ${e.url ?? '-'}`, `expires:  ${e.expiresAt} (${e.expiresInSeconds}s left)`,
      ];
      if (e.failure) lines.push(`failure:  ${e.failure.code}: ${e.failure.message}`);
      if (e.destroyReason) lines.push(`reason:   ${e.destroyReason}${e.destroyedBy ? ` (by ${e.destroyedBy})` : ''}`);
      io.out(lines.join('\n'));
      return EXIT.OK;
    }
    case 'extend': {
      onlyFor([]);
      if (positionals.length !== 2) throw new UsageError('extend needs <name> <ttl>');
      const [name, ttl] = positionals as [string, string];
      if (parseDuration(ttl) === undefined) throw new UsageError(`"${ttl}" is not a duration such as 2h`);
      const e = await client(env).extend(name, ttl);
      io.out(`${e.name} expires ${e.expiresAt}`);
      return EXIT.OK;
    }
    case 'logs': {
      onlyFor([]);
      const events = await client(env).events(one(positionals, 'environment name'));
      for (const ev of events) io.out(`${ev.at}  ${String(ev.type).padEnd(12)} ${String(ev.status ?? '').padEnd(12)} ${ev.message}`);
      return EXIT.OK;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

// Run when executed (the bin shim, `tsx cli/main.ts`, or node dist/cli/main.js), not when imported.
const invokedAs = process.argv[1] ? pathToFileURL(path.resolve(process.argv[1])).href : '';
if (invokedAs === import.meta.url) {
  run(process.argv.slice(2), process.env, { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) })
    .then((code) => { process.exitCode = code; });
}
