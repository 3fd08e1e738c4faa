/**
 * What Mayfly writes into a pull request, and the commands it reads from one. Pure: no I/O,
 * unit-tested (test/unit/pull-request.test.ts).
 *
 * - The live comment: one per environment and pull request (or GitLab merge request: its note),
 *   found again by its hidden marker `<!-- mayfly:env=<name> -->` (worker/jobs/notify.ts creates
 *   it once, then edits it).
 * - Commands: a comment whose first line is `/mayfly <command>`.
 */
import type { Environment } from '../domain/environment.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { entryUrl } from './text.js';

export function commentMarker(name: string): string {
  return `<!-- mayfly:env=${name} -->`;
}

export interface ServiceLine {
  service: string;
  state: string;
  health: string;
}

export interface CommentView {
  env: Environment;
  entryService?: string;
  /** The services' states from the engine; undefined: not known (the engine did not answer). */
  services?: ServiceLine[];
  /** The latest `failed` event, if the environment ever failed. */
  lastFailure?: { at: Date; code: string; message: string } | null;
  /** The latest command from the pull request and what came of it. */
  lastCommand?: { at: Date; by: string; text: string; outcome: string } | null;
  /** The head commit the environment was last deployed for. */
  sha?: string;
  publicUrl: string;
  now?: Date;
  /** Whether the `/mayfly` commands are offered (GitHub's pull requests: yes; GitLab's merge requests: no). */
  commands?: boolean;
}

/** Text from outside (failure messages, logins) made inert in Markdown: one line, no HTML, no table breaks, no mentions. */
export function inert(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  const cut = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return cut.replace(/[\\`*_|<>[\]]/g, (c) => `\\${c}`).replace(/@/g, '@\u200b');
}

/** Text from outside as a Markdown code span: one line, no backticks (inside one, escapes do not work). */
export function code(text: string, max = 120): string {
  const one = text.replace(/\s+/g, ' ').trim().replace(/`/g, "'").replace(/\|/g, '¦');
  return `\`${one.length > max ? `${one.slice(0, max - 1)}…` : one}\``;
}

export function environmentLinks(publicUrl: string, name: string) {
  const page = `${publicUrl}/environments/${encodeURIComponent(name)}`;
  return { page, logs: `${page}#services`, timeline: `${page}#timeline-h` };
}

export const PR_COMMANDS_HELP = '`/mayfly extend 2h` · `/mayfly reset-db` · `/mayfly redeploy` · `/mayfly destroy` · `/mayfly capsule [what went wrong]`';

/** The body of the live comment for the environment as it is now. */
export function renderComment(v: CommentView): string {
  const { env } = v;
  const now = v.now ?? new Date();
  const links = environmentLinks(v.publicUrl, env.name);
  const lines: string[] = [commentMarker(env.name)];
  const gone = env.status === 'destroyed' || env.status === 'destroying';
  if (gone) {
    const verb = env.status === 'destroyed' ? 'was **destroyed**' : 'is being **destroyed**';
    lines.push(`### Mayfly: \`${env.name}\` ${verb}`, '',
      `Reason: ${env.destroyReason ?? 'destroyed'}${env.destroyedBy ? ` (by ${inert(env.destroyedBy, 80)})` : ''}.`);
  } else {
    lines.push(`### Mayfly: \`${env.name}\` is **${env.status}**`);
  }
  lines.push('', '| | |', '|---|---|');
  const url = entryUrl(env, v.entryService);
  if (!gone) lines.push(`| Address | ${url ? `${url}${env.status === 'sleeping' ? ' (asleep: opening it wakes it)' : ''}` : 'not ready yet'} |`);
  lines.push(`| Seed | ${env.seed ? code(env.seed, 63) : 'none'} |`);
  if (!gone) {
    const left = Math.max(0, Math.round((env.expiresAt.getTime() - now.getTime()) / 1000));
    lines.push(`| Time left | ${formatDuration(left)} (until ${env.expiresAt.toISOString()}) |`);
  }
  lines.push(`| Generation | ${env.generation}${v.sha ? ` (commit ${v.sha.slice(0, 12)})` : ''} |`);
  if (!gone && v.services !== undefined) {
    lines.push('', '| Service | Image | State |', '|---|---|---|');
    const states = new Map(v.services.map((s) => [s.service, s]));
    for (const [service, image] of Object.entries(env.images).sort(([a], [b]) => a.localeCompare(b))) {
      const s = states.get(service);
      lines.push(`| ${inert(service, 60)} | ${code(image)} | ${s ? `${inert(s.state, 40)}${s.health !== 'none' ? `, ${inert(s.health, 20)}` : ''}` : 'not started'} |`);
    }
  }
  if (v.lastFailure) {
    lines.push('', `**Last failure** (${v.lastFailure.at.toISOString()}): ${code(v.lastFailure.code, 60)}: ${inert(v.lastFailure.message, 500)}`);
  }
  lines.push('', `[Page](${links.page}) · [Logs](${links.logs}) · [Timeline](${links.timeline})`);
  if (!gone && v.commands !== false) lines.push('', `Commands (a comment that starts with one): ${PR_COMMANDS_HELP}`);
  if (v.lastCommand) {
    lines.push('', `Last command: ${code(v.lastCommand.text, 80)} by ${inert(v.lastCommand.by, 80)}: ${inert(v.lastCommand.outcome, 200)} (${v.lastCommand.at.toISOString()})`);
  }
  return lines.join('\n');
}

export type PrCommand =
  | { kind: 'extend'; ttl: string; seconds: number }
  | { kind: 'reset-db' }
  | { kind: 'redeploy' }
  | { kind: 'destroy' }
  | { kind: 'capsule'; note?: string }
  | { kind: 'help' }
  | { kind: 'unknown'; problem: string };

/**
 * The command in a comment, or undefined when the comment is not one (its first non-empty line
 * does not start with `/mayfly`): ordinary comments are none of Mayfly's business.
 */
export function parsePrCommand(body: string): PrCommand | undefined {
  const first = body.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (!first) return undefined;
  const words = first.split(/\s+/);
  if (words[0]!.toLowerCase() !== '/mayfly') return undefined;
  const [verb, ...args] = words.slice(1);
  switch ((verb ?? 'help').toLowerCase()) {
    case 'help': return { kind: 'help' };
    case 'extend': {
      if (args.length !== 1) return { kind: 'unknown', problem: '`/mayfly extend <duration>` needs one duration, such as `2h`' };
      const seconds = parseDuration(args[0]);
      if (seconds === undefined) return { kind: 'unknown', problem: `"${args[0]!.slice(0, 20)}" is not a duration; try \`/mayfly extend 2h\`` };
      return { kind: 'extend', ttl: args[0]!, seconds };
    }
    case 'capsule': {
      // The rest of the line is the capsule's note (what went wrong), bounded like the API's.
      const note = args.join(' ').slice(0, 2000);
      return { kind: 'capsule', ...(note ? { note } : {}) };
    }
    case 'reset-db':
    case 'redeploy':
    case 'destroy':
      if (args.length) return { kind: 'unknown', problem: `\`/mayfly ${verb!.toLowerCase()}\` takes no arguments` };
      return { kind: verb!.toLowerCase() as 'reset-db' | 'redeploy' | 'destroy' };
    default:
      return { kind: 'unknown', problem: `unknown command "${verb!.slice(0, 30)}"` };
  }
}

/** The reply to a refused or unknown command: who, what, why, and what to do. */
export function refusalReply(login: string, command: string, why: string): string {
  return `@${login} ${code(command, 80)} was not done: ${why.replace(/\s+/g, ' ').replace(/@/g, '@\u200b').replace(/</g, '&lt;')}\n\nCommands: ${PR_COMMANDS_HELP}`;
}
