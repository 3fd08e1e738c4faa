/**
 * What Mayfly's Slack bot writes (Block Kit) and reads back (button clicks). Pure: no I/O,
 * unit-tested (test/unit/slack-blocks.test.ts).
 *
 * - The environment's one channel message: its state, address, time left, last failure, links;
 *   edited in place by the worker's notifier on every change (worker/jobs/notify.ts).
 * - The expiry warning, in that message's thread: "Extend 1h" and "Destroy" buttons whose action
 *   ids carry the environment's name (`mayfly-extend:<name>`, `mayfly-destroy:<name>`). A click
 *   comes back to POST /slack/interactivity, where the clicking user is authorized again: the
 *   button says what was clicked, never that it is allowed.
 */
import type { Environment } from '../domain/environment.js';
import { NAME_PATTERN } from '../domain/environment.js';
import { formatDuration } from '../domain/duration.js';
import { InputError } from '../domain/errors.js';
import { environmentLinks } from './pull-request.js';
import type { SlackMessage } from './slack-client.js';
import { entryUrl } from './text.js';

/** What the Extend button gives: the lease ends this long from the click. */
export const SLACK_EXTEND_BY = '1h';

export type SlackVerb = 'extend' | 'destroy';

/** Text from outside (failure messages, owners) made inert in Slack mrkdwn: one line, no links, mentions or formatting. */
export function slackText(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  const cut = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return cut.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/[*_~`]/g, (c) => `\u200b${c}`);
}

/** Text from outside as a code span: inside one nothing is formatted, so only &, <, > and backticks are made inert. */
export function slackCode(text: string, max = 120): string {
  const one = text.replace(/\s+/g, ' ').trim().replace(/`/g, "'");
  const cut = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return `\`${cut.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}\``;
}

/** A link in mrkdwn; the label is made inert, the URL must be http(s) (else the label alone). */
function link(url: string, label: string): string {
  return /^https?:\/\/[^\s|<>]+$/.test(url) ? `<${url.replace(/&/g, '&amp;')}|${slackText(label, 80)}>` : slackText(label, 80);
}

/** A time as Slack shows it in each reader's own time zone, with the UTC time as the fallback. */
export function slackDate(at: Date): string {
  return `<!date^${Math.floor(at.getTime() / 1000)}^{date_short_pretty} at {time}|${at.toISOString()}>`;
}

/** Time left, to the minute (a message is read minutes after it is written); under a minute: `under 1m`. */
function timeLeft(env: Environment, now: Date): string {
  const minutes = Math.floor(Math.max(0, env.expiresAt.getTime() - now.getTime()) / 60_000);
  return minutes < 1 ? 'under 1m' : formatDuration(minutes * 60);
}

/** Who did it: `slack:<user id>` as a Slack mention; anyone else as inert text. */
function who(name: string): string {
  const m = /^slack:([UW][A-Z0-9]{1,30})$/.exec(name);
  return m ? `<@${m[1]}>` : slackText(name, 80);
}

export interface SlackView {
  env: Environment;
  entryService?: string;
  publicUrl: string;
  /** The latest `failed` event, if the environment ever failed (kept after a later success). */
  lastFailure?: { at: Date; code: string; message: string } | null;
  now?: Date;
}

/** The headline: what the environment is now, in one line (also the message's fallback text). */
function headline(view: SlackView): { mrkdwn: string; plain: string } {
  const { env } = view;
  const name = `*${slackText(env.name, 63)}*`;
  const reason = `reason: ${slackText(env.destroyReason ?? 'destroyed', 60)}${env.destroyedBy ? ` (by ${who(env.destroyedBy)})` : ''}`;
  const plainReason = `reason: ${env.destroyReason ?? 'destroyed'}${env.destroyedBy ? ` (by ${env.destroyedBy})` : ''}`;
  const url = entryUrl(env, view.entryService);
  switch (env.status) {
    case 'queued':
      return { mrkdwn: `:hourglass: ${name} is *queued*: it starts when there is room.`, plain: `${env.name} is queued` };
    case 'provisioning':
      return { mrkdwn: `:hourglass_flowing_sand: ${name} is being *provisioned* (usually under a minute).`, plain: `${env.name} is being provisioned` };
    case 'ready':
      return { mrkdwn: `:white_check_mark: ${name} is *ready*: ${url ? link(url, url) : '(no published URL)'}`, plain: `${env.name} is ready${url ? `: ${url}` : ''}` };
    case 'sleeping':
      return { mrkdwn: `:zzz: ${name} is *asleep*: ${url ? link(url, url) : '(no published URL)'} (opening it wakes it)`, plain: `${env.name} is asleep${url ? `: ${url}` : ''}` };
    case 'failed': {
      const code = slackCode(env.failure?.code ?? 'FAILED', 60);
      return {
        mrkdwn: `:x: ${name} *failed* (${code}): ${slackText(env.failure?.message ?? 'see the timeline', 400)}`,
        plain: `${env.name} failed (${env.failure?.code ?? 'FAILED'})`,
      };
    }
    case 'destroying':
      return { mrkdwn: `:wastebasket: ${name} is being torn down — ${reason}`, plain: `${env.name} is being torn down — ${plainReason}` };
    case 'destroyed':
      return { mrkdwn: `:wastebasket: ${name} was *destroyed* — ${reason}`, plain: `${env.name} was destroyed — ${plainReason}` };
  }
}

/** The environment's one channel message, as the environment is now. */
export function environmentMessage(view: SlackView): SlackMessage {
  const { env } = view;
  const now = view.now ?? new Date();
  const live = env.status !== 'destroyed' && env.status !== 'destroying';
  const head = headline(view);
  const images = Object.entries(env.images).map(([service, ref]) => `${slackText(service, 40)}=${slackCode(ref.split('/').pop() ?? ref, 80)}`).join(', ');
  const facts = [
    `Template ${slackCode(env.template, 40)}`,
    images ? `images ${images}` : '',
    env.seed ? `seed ${slackCode(env.seed, 60)}` : '',
    `owner ${who(env.owner)}`,
    live ? `lease ends ${slackDate(env.expiresAt)} (in ${timeLeft(env, now)})` : '',
  ].filter(Boolean).join(' · ');
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: head.mrkdwn } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: facts }] },
  ];
  const failure = view.lastFailure;
  if (failure && env.status !== 'failed') {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Last failure ${slackDate(failure.at)}: ${slackCode(failure.code, 60)} ${slackText(failure.message, 200)}` }] });
  }
  const links = environmentLinks(view.publicUrl, env.name);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: [link(links.page, 'Page'), link(links.logs, 'Logs'), link(links.timeline, 'Timeline')].join(' · ') }] });
  return { text: head.plain, blocks };
}

/** The action id of a button: what it does and to which environment. */
export function actionId(verb: SlackVerb, name: string): string {
  return `mayfly-${verb}:${name}`;
}

/** The expiry warning, with its two buttons. */
export function expiryWarning(env: Environment, now = new Date()): SlackMessage {
  const name = slackText(env.name, 63);
  const left = timeLeft(env, now);
  return {
    text: `${env.name}'s lease ends at ${env.expiresAt.toISOString()} (in ${left}). Extend it by ${SLACK_EXTEND_BY} or destroy it now.`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `:alarm_clock: *${name}*'s lease ends ${slackDate(env.expiresAt)} (in ${left}). Keep it ${SLACK_EXTEND_BY} longer, or let it go now.` } },
      {
        type: 'actions', block_id: 'mayfly-expiry',
        elements: [
          { type: 'button', action_id: actionId('extend', env.name), value: env.name, style: 'primary', text: { type: 'plain_text', text: `Extend ${SLACK_EXTEND_BY}` } },
          {
            type: 'button', action_id: actionId('destroy', env.name), value: env.name, style: 'danger', text: { type: 'plain_text', text: 'Destroy' },
            confirm: {
              title: { type: 'plain_text', text: 'Destroy it?' },
              text: { type: 'mrkdwn', text: `*${name}* and its data go now.` },
              confirm: { type: 'plain_text', text: 'Destroy' },
              deny: { type: 'plain_text', text: 'Keep it' },
              style: 'danger',
            },
          },
        ],
      },
    ],
  };
}

/** The warning once it no longer applies: the buttons go, what happened is said. `lease`: the latest lease event's message. */
export function warningClosed(env: Environment, lease?: string): SlackMessage {
  const name = slackText(env.name, 63);
  if (env.status === 'destroyed' || env.status === 'destroying') {
    const reason = `reason: ${env.destroyReason ?? 'destroyed'}`;
    return {
      text: `${env.name} ${env.status === 'destroyed' ? 'was destroyed' : 'is being torn down'} — ${reason}${env.destroyedBy ? ` (by ${env.destroyedBy})` : ''}`,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:wastebasket: *${name}* ${env.status === 'destroyed' ? 'was destroyed' : 'is being torn down'} — ${slackText(reason, 80)}${env.destroyedBy ? ` (by ${who(env.destroyedBy)})` : ''}` } }],
    };
  }
  return {
    text: `${env.name}'s lease now ends at ${env.expiresAt.toISOString()}${lease ? ` (${lease})` : ''}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:white_check_mark: *${name}*'s lease now ends ${slackDate(env.expiresAt)}${lease ? ` — ${slackText(lease, 120)}` : ''}` } }],
  };
}

/** A click on one of Mayfly's buttons, read from a signed interactivity request; or why it is not one. */
export type SlackInteraction =
  | {
    kind: 'action'; verb: SlackVerb; name: string;
    teamId: string; userId: string; userName: string;
    channelId: string; messageTs: string;
    responseUrl: string | undefined;
  }
  | { kind: 'ignored'; why: string };

const str = (v: unknown, max = 200): string => (typeof v === 'string' ? v.slice(0, max) : '');

/**
 * Reads an interactivity request's body (`payload=<JSON>`, form-encoded). Malformed: an
 * InputError naming the field. Not a click on one of Mayfly's buttons (another type, another
 * app's action): `ignored`, with why.
 */
export function parseInteraction(rawBody: string): SlackInteraction {
  const form = new URLSearchParams(rawBody);
  const text = form.get('payload');
  if (text === null || text === '') throw new InputError('invalid Slack interaction: payload', [{ field: 'payload', message: 'is required: the JSON Slack sends with a button click' }]);
  let payload: any;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new InputError('invalid Slack interaction: payload', [{ field: 'payload', message: 'is not JSON' }]);
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new InputError('invalid Slack interaction: payload', [{ field: 'payload', message: 'must be a JSON object' }]);
  }
  if (payload.type !== 'block_actions') return { kind: 'ignored', why: `interaction type "${str(payload.type, 40)}" is not a button click` };
  const action = Array.isArray(payload.actions) ? payload.actions[0] : undefined;
  const m = /^mayfly-(extend|destroy):(.+)$/.exec(str(action?.action_id, 120));
  if (!m) return { kind: 'ignored', why: `action "${str(action?.action_id, 60)}" is not one of Mayfly's buttons` };
  const name = m[2]!;
  if (!NAME_PATTERN.test(name)) throw new InputError('invalid Slack interaction: actions[0].action_id', [{ field: 'actions[0].action_id', message: `names "${name.slice(0, 63)}", which is not an environment name` }]);
  const userId = str(payload.user?.id, 40);
  const responseUrl = str(payload.response_url, 1000);
  return {
    kind: 'action', verb: m[1] as SlackVerb, name,
    teamId: str(payload.team?.id, 40) || str(payload.user?.team_id, 40),
    userId,
    userName: str(payload.user?.username, 80) || str(payload.user?.name, 80) || userId,
    channelId: str(payload.channel?.id, 40) || str(payload.container?.channel_id, 40),
    messageTs: str(payload.container?.message_ts, 40) || str(payload.message?.ts, 40),
    responseUrl: /^https?:\/\//.test(responseUrl) ? responseUrl : undefined,
  };
}
