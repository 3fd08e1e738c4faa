import express, { Router, type Request, type Response } from 'express';
import { LEASED_STATUSES, LIVE_STATUSES } from '../../core/domain/environment.js';
import { describeCheckpoints, describeEnvironment, describeQueue, entryUrl } from '../../core/doors/text.js';
import { formatDuration, parseDuration } from '../../core/domain/duration.js';
import { ConflictError, ForbiddenError, InputError, NotFoundError, SignatureError, errorMessage } from '../../core/domain/errors.js';
import { MayflyError } from '../../core/domain/errors.js';
import { principalFor, type Principal } from '../../core/domain/principal.js';
import { postJson } from '../../core/doors/http-out.js';
import { SLACK_EXTEND_BY, parseInteraction, type SlackInteraction } from '../../core/doors/slack-blocks.js';
import { NAME_PATTERN, validateEnvironmentRequest } from '../../core/doors/requests.js';
import { verifySlackRequest } from '../../core/doors/signatures.js';
import { parseSlackCommand, slackEnvironmentName, slackUsage, type SlackCommand } from '../../core/doors/slack-command.js';
import type { ApiDeps } from '../deps.js';
import { BODY_LIMITS, bodyLimit } from '../middleware/body-limit.js';
import { rule } from '../access.js';
import { capsuleDownload } from '../presenters.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'admission' | 'capsuleService' | 'catalog' | 'config' | 'environments' | 'logger' | 'notifications' | 'queues' | 'requestTrail' | 'store'>;

/** Slack lets a response_url be used five times within 30 minutes. */
export const SLACK_FOLLOW_UPS = 5;
export const SLACK_RESPONSE_URL_MS = 30 * 60_000;

interface SlashRequest {
  text: string;
  command: string;
  /** The workspace (team_id) and the user's id in it: who asks. */
  teamId: string;
  userId: string;
  /** The display name: shown, never trusted (a Slack user can change it). */
  userName: string;
  channelId: string;
  responseUrl: string | undefined;
}

/**
 * POST /slack/commands: Mayfly's slash command (and POST /slack/interactivity, its buttons,
 * below). The signature is checked on the raw body (so this router parses its own bodies); an
 * unsigned, tampered or stale request gets 401 and nothing happens. The answer (ephemeral) comes
 * at once, after the request is recorded; progress and the outcome go to response_url through
 * the worker's notifier, or, with MAYFLY_SLACK_BOT_TOKEN, to one channel message it keeps up to date.
 */
export function slackRouter(deps: Deps): Router {
  const { store, queues, catalog, config, notifications } = deps;
  const secret = config.doors.slackSigningSecret;
  const router = Router();
  router.use(bodyLimit(BODY_LIMITS.slack), express.raw({ type: () => true, limit: BODY_LIMITS.slack }));

  /** The raw body of a request Slack signed; anything unsigned, tampered or stale: 401 and nothing happens. */
  function signedBody(req: Request): Buffer {
    if (!secret) throw new NotFoundError('SLACK_NOT_CONFIGURED', 'the Slack door is not enabled on this server (SLACK_SIGNING_SECRET is not set)');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verdict = verifySlackRequest(secret, req.get('x-slack-request-timestamp'), req.get('x-slack-signature'), raw);
    if (verdict !== 'ok') {
      deps.logger.warn({ requestId: req.requestId, verdict, path: req.path }, 'refused a Slack request');
      throw new SignatureError({
        missing: 'the Slack signature headers are missing',
        stale: 'the Slack request timestamp is more than five minutes from now',
        mismatch: 'the Slack signature does not match',
      }[verdict]);
    }
    return raw;
  }
  /** Whether a Slack user may use this Mayfly at all: a user id, from one of SLACK_TEAM_IDS (when set). Else why not. */
  function outsider(teamId: string, userId: string): string | undefined {
    const workspaces = config.doors.slackTeamIds;
    if (userId && workspaces.length && !workspaces.includes(teamId)) {
      return `:no_entry: This Mayfly serves other Slack workspaces (SLACK_TEAM_IDS); workspace ${teamId.slice(0, 30) || '(none)'} may not use it.`;
    }
    if (!/^U|^W/.test(userId)) return ':no_entry: Mayfly could not tell who you are: the request carried no Slack user id.';
    return undefined;
  }

  router.post('/commands', rule('signature'), async (req: Request, res: Response) => {
    const raw = signedBody(req);
    const form = new URLSearchParams(raw.toString('utf8'));
    if (form.get('ssl_check') === '1') { res.status(200).end(); return; }
    const slash: SlashRequest = {
      text: form.get('text') ?? '',
      command: form.get('command') || '/mayfly',
      teamId: form.get('team_id') ?? '',
      userId: form.get('user_id') ?? '',
      userName: form.get('user_name') || form.get('user_id') || 'someone',
      channelId: form.get('channel_id') ?? '',
      responseUrl: usableUrl(form.get('response_url')),
    };
    const stranger = outsider(slash.teamId, slash.userId);
    if (stranger) {
      deps.logger.warn({ requestId: req.requestId, teamId: slash.teamId.slice(0, 30), userId: slash.userId.slice(0, 30) }, 'refused a Slack command from another workspace or without a user id');
      res.json({ response_type: 'ephemeral', text: stranger.replace('the request carried', 'the command carried') });
      return;
    }
    let text: string;
    try {
      text = await handle(parseSlackCommand(slash.text), slash);
    } catch (err) {
      deps.logger.error({ err, requestId: req.requestId }, 'Slack command failed');
      text = `:warning: Mayfly could not do that: ${errorMessage(err)} (request ${req.requestId ?? '-'})`;
    }
    res.json({ response_type: 'ephemeral', text });
  });

  const entryOf = (template: string) => (catalog.has(template) ? catalog.get(template).entryService : undefined);
  // Who asks is the Slack user id (stable), never the display name (which its owner can change).
  const ownerOf = (s: SlashRequest) => `slack:${s.userId}`;
  const principalOf = (s: SlashRequest) => principalFor(config.teams, ownerOf(s), 'user', 'slack');
  /** An action's refusal (not allowed, wrong state, bad duration) as a sentence for the channel. */
  const refusal = (err: unknown): string => {
    if (!(err instanceof MayflyError)) throw err;
    const details = Array.isArray(err.details) ? (err.details as { field: string; message: string }[]) : [];
    return details.length ? details.map((d) => `${d.field} ${d.message}`).join('; ') : err.message;
  };

  /** With a bot token and a channel: the environment's one channel message (kept up to date by the notifier). */
  const botMessage = (s: SlashRequest) => Boolean(config.doors.slackBotToken && /^[CG][A-Z0-9]{1,30}$/.test(s.channelId));

  async function follow(envId: string, s: SlashRequest, fromStart: boolean): Promise<void> {
    if (botMessage(s)) {
      await notifications.setDoorDetails(envId, { slackChannel: s.channelId, slackUser: s.userId });
      await notifications.subscribe(envId, 'slack-bot', s.channelId, { fromStart, data: { command: s.command, channel: s.channelId, user: s.userId } });
      return;
    }
    if (!s.responseUrl) return;
    await notifications.setDoorDetails(envId, { slackResponseUrl: s.responseUrl, slackChannel: s.channelId, slackUser: s.userId });
    await notifications.subscribe(envId, 'slack', s.responseUrl, {
      fromStart, maxSends: SLACK_FOLLOW_UPS, validForMs: SLACK_RESPONSE_URL_MS,
      data: { command: s.command, channel: s.channelId, user: s.userId },
    });
  }

  async function handle(cmd: SlackCommand, s: SlashRequest): Promise<string> {
    switch (cmd.kind) {
      case 'help':
        return slackUsage(s.command);
      case 'usage':
        return `${cmd.problem}\n${slackUsage(s.command)}`;
      case 'list': {
        const live = await store.list({ statuses: [...LIVE_STATUSES], limit: 50 });
        if (!live.length) return 'No live environments. Create one: `' + s.command + ' up <template> [tag]`';
        const line = await deps.admission.lineInfo();
        return live.slice(0, 20).map((e) => `• ${describeEnvironment(e, entryOf(e.template), line.get(e.id))}`).join('\n') +
          (live.length > 20 ? `\n…and ${live.length - 20} more` : '');
      }
      case 'status': {
        if (!NAME_PATTERN.test(cmd.name)) return `"${cmd.name}" is not an environment name`;
        const env = await store.getByName(cmd.name);
        return env ? describeEnvironment(env, entryOf(env.template), (await deps.admission.lineInfo()).get(env.id)) : `No environment named *${cmd.name}*. \`${s.command} list\` shows the live ones.`;
      }
      case 'down': {
        if (!NAME_PATTERN.test(cmd.name)) return `"${cmd.name}" is not an environment name`;
        const env = await store.getByName(cmd.name);
        if (!env) return `No environment named *${cmd.name}*.`;
        if (env.status === 'destroyed') return `*${env.name}* is already gone — reason: ${env.destroyReason ?? 'destroyed'}`;
        let now;
        try {
          now = await deps.environments.destroy(principalOf(s), env);
        } catch (err) {
          return refusal(err);
        }
        await follow(env.id, s, false);
        return `Tearing down *${now.name}*; I will confirm here.`;
      }
      case 'extend': {
        if (!NAME_PATTERN.test(cmd.name)) return `"${cmd.name}" is not an environment name`;
        const env = await store.getByName(cmd.name);
        if (!env) return `No environment named *${cmd.name}*.`;
        const seconds = parseDuration(cmd.ttl);
        if (seconds === undefined) return `"${cmd.ttl}" is not a duration; try \`${s.command} extend ${cmd.name} 2h\``;
        const max = catalog.has(env.template) ? catalog.get(env.template).ttl.maxSeconds : seconds;
        if (seconds > max) return `${cmd.ttl} is longer than template ${env.template}'s maximum lease of ${formatDuration(max)}`;
        if (!LEASED_STATUSES.includes(env.status)) return `*${env.name}* is ${env.status}${env.destroyReason ? ` (reason: ${env.destroyReason})` : ''}; it cannot be extended`;
        let moved;
        try {
          moved = await deps.environments.extend(principalOf(s), env, cmd.ttl);
        } catch (err) {
          return refusal(err);
        }
        return `*${moved.name}* now expires in ${formatDuration(seconds)} (${moved.expiresAt.toISOString()}).`;
      }
      case 'checkpoints': {
        if (!NAME_PATTERN.test(cmd.name)) return `"${cmd.name}" is not an environment name`;
        const env = await store.getByName(cmd.name);
        if (!env || env.status === 'destroyed') return `No live environment named *${cmd.name}*.`;
        try {
          return describeCheckpoints(env.name, await deps.environments.checkpoints(principalOf(s), env), s.command);
        } catch (err) {
          return refusal(err);
        }
      }
      case 'checkpoint':
      case 'rewind':
      case 'capsule':
      case 'fork': {
        if (!NAME_PATTERN.test(cmd.name)) return `"${cmd.name}" is not an environment name`;
        const env = await store.getByName(cmd.name);
        if (!env || env.status === 'destroyed') return `No live environment named *${cmd.name}*.`;
        try {
          if (cmd.kind === 'checkpoint') {
            const { checkpoint } = await deps.environments.checkpoint(principalOf(s), env);
            return `Taking checkpoint \`${checkpoint.id}\` of *${env.name}* (its database pauses for a moment). Bring it back with \`${s.command} rewind ${env.name} ${checkpoint.id}\`.`;
          }
          if (cmd.kind === 'capsule') {
            const { capsule } = await deps.capsuleService.take(principalOf(s), env, cmd.note !== undefined ? { note: cmd.note } : {}, deps.requestTrail?.recent(env.id) ?? []);
            return `Taking bug capsule \`${capsule.id}\` of *${env.name}* (its data, image digests, logs and last ${capsule.requests.length} requests). ` +
              `Archive: ${capsuleDownload(deps.config.publicUrl, capsule.id)} — a developer brings it up with \`mayfly deploy <new-name> --capsule ${capsule.id}\`.`;
          }
          if (cmd.kind === 'rewind') {
            await deps.environments.rewind(principalOf(s), env, cmd.checkpoint);
            await follow(env.id, s, false);
            return `Rewinding *${env.name}* to \`${cmd.checkpoint}\` (its current data is checkpointed first); I will confirm here.`;
          }
          const { env: fork } = await deps.environments.fork(principalOf(s), env, cmd.for, { door: 'slack' });
          await follow(fork.id, s, true);
          return `Forking *${env.name}* as *${fork.name}* (same images, a copy of its data); I will post its URL here.`;
        } catch (err) {
          if (err instanceof InputError) return `Cannot ${cmd.kind} *${env.name}*:\n${err.problems.map((p) => `• ${p.field}: ${p.message}`).join('\n')}`;
          return refusal(err);
        }
      }
      case 'up':
        return up(cmd, s);
    }
  }

  /**
   * POST /slack/interactivity: a click on the expiry warning's "Extend 1h" or "Destroy". Signed
   * like a command (401 on anything unsigned, tampered or stale: nothing happens). The button
   * only says what was clicked: the clicking user is mapped to a principal as a command's user
   * is, and the action goes through the same rules as every other door. Done: the notifier edits
   * the channel message and the warning. Refused: an ephemeral answer to that user alone
   * (response_url), and nothing changes.
   */
  router.post('/interactivity', rule('signature'), async (req: Request, res: Response) => {
    const raw = signedBody(req);
    const click = parseInteraction(raw.toString('utf8'));
    if (click.kind === 'ignored') {
      deps.logger.info({ requestId: req.requestId, why: click.why }, 'ignored a Slack interaction');
      res.status(200).end();
      return;
    }
    const who = `slack:${click.userId.slice(0, 30)}`;
    let answer: string | undefined = outsider(click.teamId, click.userId);
    if (!answer) {
      try {
        answer = await act(click, principalFor(config.teams, who, 'user', 'slack'));
      } catch (err) {
        deps.logger.error({ err, requestId: req.requestId, environment: click.name }, `Slack button "${click.verb}" on ${click.name} failed`);
        answer = `:warning: Mayfly could not ${click.verb} *${click.name}*: ${errorMessage(err)} (request ${req.requestId ?? '-'})`;
      }
    }
    // Slack wants the acknowledgement within 3 s; the refusal follows, to the clicking user only.
    res.status(200).end();
    if (answer === undefined) {
      deps.logger.info({ requestId: req.requestId, environment: click.name, by: who }, `Slack button: ${click.verb} ${click.name} by ${who}`);
      return;
    }
    deps.logger.info({ requestId: req.requestId, environment: click.name, by: who, answer }, `Slack button: ${click.verb} ${click.name} by ${who} refused`);
    if (!click.responseUrl) return;
    const body = JSON.stringify({ response_type: 'ephemeral', replace_original: false, text: answer });
    void postJson(click.responseUrl, body, {}, config.doors.outboundTimeoutMs).catch((err) => {
      deps.logger.warn({ requestId: req.requestId, environment: click.name, err: errorMessage(err) },
        `could not tell ${who} why "${click.verb}" of ${click.name} was refused (Slack's response_url did not take it); they can use ${'`/mayfly status ' + click.name + '`'}`);
    });
  });

  /** Does what a button asks, as `actor`; undefined when done, else why not (for the clicking user). */
  async function act(click: Extract<SlackInteraction, { kind: 'action' }>, actor: Principal): Promise<string | undefined> {
    const env = await store.getByName(click.name);
    if (!env) return `:no_entry: No environment named *${click.name}*.`;
    if (env.status === 'destroyed' || env.status === 'destroying') {
      return `:no_entry: *${env.name}* is already ${env.status === 'destroyed' ? 'gone' : 'going'} — reason: ${env.destroyReason ?? 'destroyed'}${env.destroyedBy ? ` (by ${env.destroyedBy})` : ''}.`;
    }
    try {
      if (click.verb === 'extend') {
        if (!LEASED_STATUSES.includes(env.status)) return `:no_entry: *${env.name}* is ${env.status}; it cannot be extended.`;
        await deps.environments.extend(actor, env, SLACK_EXTEND_BY);
      } else {
        await deps.environments.destroy(actor, env);
      }
    } catch (err) {
      return `:no_entry: Cannot ${click.verb} *${env.name}*: ${refusal(err)}`;
    }
    return undefined;
  }

  async function up(cmd: Extract<SlackCommand, { kind: 'up' }>, s: SlashRequest): Promise<string> {
    const name = slackEnvironmentName(cmd, s.userName);
    const body: Record<string, unknown> = { template: cmd.template };
    if (cmd.tag !== undefined) body.tag = cmd.tag;
    if (Object.keys(cmd.images).length) body.images = cmd.images;
    if (cmd.ttl !== undefined) body.ttl = cmd.ttl;
    if (cmd.seed !== undefined) body.seed = cmd.seed;
    let valid;
    try {
      valid = validateEnvironmentRequest(body, catalog, name);
    } catch (err) {
      if (err instanceof InputError) return `Cannot create *${name}*:\n${err.problems.map((p) => `• ${p.field}: ${p.message}`).join('\n')}`;
      throw err;
    }
    let result;
    try {
      result = await deps.environments.deploy(principalOf(s), {
        name, template: valid.template, owner: ownerOf(s), images: valid.images, seed: valid.seed, ttlSeconds: valid.ttlSeconds, door: 'slack',
      }, { ttlGiven: valid.ttlGiven, waitDestroyingMs: 0 });
    } catch (err) {
      if (err instanceof ConflictError && err.code === 'ENVIRONMENT_DESTROYING') return `*${name}* is being torn down right now; run the same command again in a minute.`;
      // E.g. a seed whose dataset.yml is wrong: refused when asked for, naming the field.
      if (err instanceof InputError) return `Cannot create *${name}*:\n${err.problems.map((p) => `• ${p.field}: ${p.message}`).join('\n')}`;
      if (err instanceof ConflictError || err instanceof ForbiddenError) return `Cannot deploy *${name}*: ${err.message}`;
      throw err;
    }
    const { env, action } = result;
    await follow(env.id, s, action === 'created');
    const lease = formatDuration(env.ttlSeconds);
    if (action === 'unchanged') {
      const url = entryUrl(env, entryOf(env.template));
      return `*${env.name}* is already ${env.status}${url ? `: ${url}` : ''} (expires ${env.expiresAt.toISOString()}). Nothing to redeploy.`;
    }
    const queue = env.status === 'queued' ? (await deps.admission.lineInfo()).get(env.id) : undefined;
    return `${action === 'created' ? 'Creating' : 'Redeploying'} *${env.name}* (${env.template}, ${Object.entries(env.images).map(([k, v]) => `${k}=${v.split('/').pop()}`).join(', ')}, lease ${lease}). ` +
      (queue ? `It is ${describeQueue(queue)}. ` : '') +
      (botMessage(s) ? 'I will post one message in this channel and keep it up to date: progress, the URL, a warning before the lease ends.'
        : `I will post progress and the URL here${s.responseUrl ? '' : ' (no response_url in the request: use `' + s.command + ' status ' + env.name + '`)'}.`);
  }

  return router;
}

function usableUrl(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:' ? value : undefined;
  } catch {
    return undefined;
  }
}
