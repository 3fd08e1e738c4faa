import type { QueueInfo } from '../app/admission.js';
import type { Environment, EnvironmentEvent } from '../domain/environment.js';
import { formatBytes } from '../domain/bytes.js';
import { formatDuration } from '../domain/duration.js';

/**
 * What every door says about an environment: the Slack replies and follow-ups, and the JSON
 * payload of callbacks. One wording, so the reason an environment went away reads the same
 * everywhere.
 */

/** Whether the environment's address answers: ready, or sleeping (a request wakes it). */
export function hasAddress(env: Environment): boolean {
  return env.status === 'ready' || env.status === 'sleeping';
}

export function entryUrl(env: Environment, entryService?: string): string | null {
  if (!hasAddress(env)) return null;
  return (entryService && env.urls[entryService]) || Object.values(env.urls)[0] || null;
}

function leaseLeft(env: Environment): string {
  return formatDuration(Math.max(0, Math.round((env.expiresAt.getTime() - Date.now()) / 1000))) || '0s';
}

/** Where a waiting environment stands in line, in words. */
export function describeQueue(queue: QueueInfo): string {
  return `waiting in line: position ${queue.position}, starts in about ${formatDuration(queue.estimatedStartSeconds) || '0s'} (${queue.reason})`;
}

/** What a door shows of a checkpoint (core/store/checkpoints.ts has the whole record). */
export interface CheckpointLine {
  id: string;
  reason: string;
  status: string;
  createdBy: string;
  createdAt: Date;
  sizeBytes: number | null;
  pauseMs: number | null;
  error: string | null;
}

/** An environment's checkpoints (newest first, as listed), for Slack's `checkpoints`. */
export function describeCheckpoints(envName: string, checkpoints: CheckpointLine[], command: string): string {
  if (!checkpoints.length) return `*${envName}* has no checkpoints. Take one: \`${command} checkpoint ${envName}\``;
  const lines = checkpoints.map((c) => {
    const parts = [`• \`${c.id}\` — ${c.status}${c.error ? ` (${c.error.slice(0, 200)})` : ''}`, `${c.reason} by ${c.createdBy} at ${c.createdAt.toISOString()}`];
    if (c.sizeBytes !== null) parts.push(`${formatBytes(c.sizeBytes)}${c.pauseMs !== null ? `, paused ${c.pauseMs} ms` : ''}`);
    return parts.join(' · ');
  });
  return [`Checkpoints of *${envName}*, newest first:`, ...lines, `Bring a ready one back: \`${command} rewind ${envName} <checkpoint>\``].join('\n');
}

/** One line about an environment, for Slack's `list` and `status`. */
export function describeEnvironment(env: Environment, entryService?: string, queue?: QueueInfo): string {
  const url = entryUrl(env, entryService);
  const parts = [`*${env.name}* (${env.template}) — ${env.status}`];
  if (url) parts.push(env.status === 'sleeping' ? `${url} (asleep: opening it wakes it)` : url);
  if (env.status === 'queued' && queue) parts.push(describeQueue(queue));
  if (env.status === 'failed' && env.failure) parts.push(`failure ${env.failure.code}: ${env.failure.message.slice(0, 300)}`);
  if (env.status === 'destroyed' || env.status === 'destroying') {
    parts.push(`reason: ${env.destroyReason ?? 'destroyed'}${env.destroyedBy ? ` (by ${env.destroyedBy})` : ''}`);
  } else {
    parts.push(`expires in ${leaseLeft(env)}`);
  }
  parts.push(`owner ${env.owner} via ${env.door}`);
  return parts.join(' · ');
}

/** The Slack follow-up for an event, or undefined when the event is not worth a message. */
export function slackFollowUp(env: Environment, event: EnvironmentEvent, command: string, entryService: string | undefined, eventsUrl: string): string | undefined {
  const data = (event.data ?? {}) as Record<string, unknown>;
  switch (event.type) {
    case 'provisioning':
      return `:hourglass_flowing_sand: *${env.name}* is being provisioned (usually under a minute). I will post its URL here.`;
    case 'ready': {
      const urls = (data.urls ?? env.urls) as Record<string, string>;
      const url = (entryService && urls[entryService]) || Object.values(urls)[0] || '(no published URL)';
      return `:white_check_mark: *${env.name}* is ready: ${url}\nLease: expires in ${leaseLeft(env)}. Keep it longer: \`${command} extend ${env.name} 2h\` · remove it: \`${command} down ${env.name}\``;
    }
    case 'failed': {
      const code = typeof data.code === 'string' ? data.code : env.failure?.code ?? 'FAILED';
      return `:x: *${env.name}* failed (${code}): ${event.message.replace(/^failed: /, '').slice(0, 500)}\n` +
        `What to do: check the tag exists (\`${command} up ${env.template} <tag>\` retries), or read the timeline at ${eventsUrl}`;
    }
    case 'expiring':
      return `:alarm_clock: *${env.name}* ${event.message}. To keep it, type \`${command} extend ${env.name} 2h\``;
    case 'destroyed': {
      const reason = (typeof data.reason === 'string' ? data.reason : env.destroyReason) ?? 'destroyed';
      return `:wastebasket: *${env.name}* was destroyed — reason: ${reason}${env.destroyedBy ? ` (by ${env.destroyedBy})` : ''}`;
    }
    default:
      return undefined;
  }
}

/** The `environment` object of a callback payload. */
export function callbackEnvironment(env: Environment, entryService?: string) {
  return {
    id: env.id, name: env.name, template: env.template, status: env.status, owner: env.owner, door: env.door,
    images: env.images, url: entryUrl(env, entryService), urls: hasAddress(env) ? env.urls : {},
    expiresAt: env.expiresAt.toISOString(), generation: env.generation, failure: env.failure,
    destroyReason: env.destroyReason, destroyedBy: env.destroyedBy,
  };
}
