import express, { Router, type Request, type Response } from 'express';
import { ConflictError, InputError, MayflyError, NotFoundError, SignatureError } from '../../core/domain/errors.js';
import { principalFor, type Principal } from '../../core/domain/principal.js';
import type { Environment } from '../../core/domain/environment.js';
import { PR_COMMANDS_HELP, parsePrCommand, refusalReply, type PrCommand } from '../../core/doors/pull-request.js';
import { assertOrigin } from '../../core/app/environments.js';
import { verifySha256Signature } from '../../core/doors/signatures.js';
import type { ApiDeps } from '../deps.js';
import { BODY_LIMITS, bodyLimit } from '../middleware/body-limit.js';
import { rule } from '../access.js';
import { capsuleDownload } from '../presenters.js';
import { closeReview, deployReview, type DoorOutcome } from './review-door.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'capsuleService' | 'catalog' | 'config' | 'environments' | 'logger' | 'notifications' | 'queues' | 'requestTrail' | 'store'>;

const DEPLOY_ACTIONS = new Set(['opened', 'reopened', 'synchronize']);

interface PullRequestPayload {
  action?: string;
  number?: number;
  pull_request?: {
    number?: number;
    user?: { login?: string };
    head?: { sha?: string; repo?: { full_name?: string } | null };
    base?: { repo?: { full_name?: string } };
  };
  repository?: { full_name?: string };
  sender?: { login?: string };
}

interface IssueCommentPayload {
  action?: string;
  issue?: { number?: number; pull_request?: unknown };
  comment?: { id?: number; body?: string; user?: { login?: string; type?: string } };
  repository?: { full_name?: string };
}

/** A GitHub login (user names are at most 39 letters, digits and dashes). */
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;

/**
 * POST /webhooks/github: pull requests get environments named `<template>-pr-<number>`.
 * opened / reopened / synchronize create or redeploy it; closed (merged or not) destroys it with
 * reason `pull-request-closed`. The X-Hub-Signature-256 is checked on the raw body; each
 * X-GitHub-Delivery is handled once (PostgreSQL remembers it; a claim left unfinished by a process
 * that died is claimable again after GITHUB_CLAIM_EXPIRY_MS). Other events get 2xx and nothing.
 */
export function githubRouter(deps: Deps): Router {
  const { store, queues, catalog, config, notifications, logger } = deps;
  const { githubWebhookSecret: secret, githubTemplate: template } = config.doors;
  const router = Router();
  router.use(bodyLimit(BODY_LIMITS.github), express.raw({ type: () => true, limit: BODY_LIMITS.github }));

  router.post('/github', rule('signature'), async (req: Request, res: Response) => {
    if (!secret || !template) throw new NotFoundError('GITHUB_NOT_CONFIGURED', 'the GitHub webhook is not enabled on this server (GITHUB_WEBHOOK_SECRET is not set)');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!verifySha256Signature(secret, req.get('x-hub-signature-256'), raw)) {
      logger.warn({ requestId: req.requestId, delivery: req.get('x-github-delivery') }, 'refused a GitHub webhook: bad or missing signature');
      throw new SignatureError('the X-Hub-Signature-256 is missing or does not match the body (check GITHUB_WEBHOOK_SECRET)');
    }
    const event = req.get('x-github-event') ?? '';
    const delivery = req.get('x-github-delivery') ?? '';
    if (!/^[\w-]{1,100}$/.test(delivery)) throw new InputError('missing X-GitHub-Delivery', [{ field: 'X-GitHub-Delivery', message: 'is required: the delivery id' }]);
    let payload: PullRequestPayload;
    try {
      payload = JSON.parse(raw.toString('utf8')) as PullRequestPayload;
    } catch {
      throw new InputError('the webhook body is not JSON', [{ field: '(body)', message: 'must be JSON (set the webhook content type to application/json)' }]);
    }
    const action = typeof payload.action === 'string' ? payload.action : null;
    if (!(await notifications.claimGithubDelivery(delivery, event, action))) {
      res.status(200).json({ outcome: 'duplicate', delivery, message: 'this delivery was handled before or is being handled now; nothing done' });
      return;
    }
    try {
      const outcome = await handle(event, payload);
      await notifications.finishGithubDelivery(delivery, outcome.outcome);
      res.status(outcome.status).json({ delivery, ...outcome });
    } catch (err) {
      // Not handled: forget it, so GitHub's "Redeliver" works.
      await notifications.forgetGithubDelivery(delivery).catch(() => undefined);
      throw err;
    }
  });

  async function handle(event: string, p: PullRequestPayload): Promise<DoorOutcome> {
    if (event === 'ping') return { status: 200, outcome: 'pong' };
    if (event === 'issue_comment') return command(p as IssueCommentPayload);
    if (event !== 'pull_request') return { status: 202, outcome: 'ignored', message: `event "${event}" is not used` };
    const pr = p.pull_request;
    const number = pr?.number ?? p.number;
    const baseRepo = pr?.base?.repo?.full_name ?? p.repository?.full_name;
    if (!Number.isInteger(number) || (number as number) <= 0 || !baseRepo) {
      throw new InputError('not a pull_request payload', [{ field: 'pull_request.number', message: 'is required' }]);
    }
    const name = `${template}-pr-${number}`;
    const by = `github:${p.sender?.login ?? 'unknown'}`;
    // The door acts only on environments it created for this repository's pull request.
    const origin = `github:${baseRepo}#${number}`;
    if (p.action === 'closed') return closeReview(deps, { name, origin, by, door: 'github', reason: 'pull-request-closed' });
    if (!p.action || !DEPLOY_ACTIONS.has(p.action)) return { status: 202, outcome: 'ignored', message: `action "${p.action}" is not used` };

    const headRepo = pr?.head?.repo?.full_name;
    if (headRepo !== baseRepo && !config.doors.githubAllowForks) {
      return { status: 202, outcome: 'ignored-fork', message: `pull request from ${headRepo ?? 'a deleted fork'}: forks get no environment (MAYFLY_GITHUB_ALLOW_FORKS)` };
    }
    const sha = pr?.head?.sha ?? '';
    const result = await deployReview(deps, {
      name, template: template!, tag: config.doors.githubTag === 'sha' ? sha : `pr-${number}`, door: 'github', origin,
      author: `github:${pr?.user?.login ?? p.sender?.login ?? 'unknown'}`, force: p.action === 'synchronize',
    });
    if (!('env' in result)) return result;
    const { env, action } = result;
    if (config.doors.githubToken && /^[0-9a-f]{7,64}$/i.test(sha)) {
      const target = `${baseRepo}@${sha}`;
      await notifications.subscribe(env.id, 'github', target, { fromStart: action === 'created', data: { repo: baseRepo, sha, number } });
      await notifications.retireOthers(env.id, 'github', target);
    }
    if (config.doors.githubToken) {
      // The pull request's live comment and deployment: one subscription per environment and
      // pull request; a new head commit is merged into it (the comment id it knows stays).
      await notifications.subscribe(env.id, 'github-pr', `${baseRepo}#${number}`, {
        fromStart: true, mergeData: true, data: { repo: baseRepo, number, ...(/^[0-9a-f]{7,64}$/i.test(sha) ? { sha } : {}) },
      });
    }
    await store.addEvent(env.id, 'github', `pull request ${baseRepo}#${number} ${p.action} (${sha.slice(0, 12)}): ${action}`, { repo: baseRepo, number, sha, action: p.action });
    return { status: 202, outcome: action, environment: env.name };
  }

  /**
   * A comment on a pull request: `/mayfly <command>` acts on the environment this door made for
   * that pull request, as the commenter, through the same rules as every other door. The answer
   * (a reaction, and a reply saying why when it is refused) is queued for the worker's notifier;
   * a done command also shows in the live comment. Anything else is ignored.
   */
  async function command(p: IssueCommentPayload): Promise<DoorOutcome> {
    if (p.action !== 'created') return { status: 202, outcome: 'ignored', message: `comment action "${p.action}" is not used` };
    const number = p.issue?.number;
    const repo = p.repository?.full_name;
    const commentId = p.comment?.id;
    if (!Number.isInteger(number) || (number as number) <= 0 || !repo || !/^[\w.-]+\/[\w.-]+$/.test(repo) || !Number.isSafeInteger(commentId) || (commentId as number) <= 0) {
      throw new InputError('not an issue_comment payload', [{ field: 'issue.number', message: 'is required, with repository.full_name and comment.id' }]);
    }
    if (!p.issue?.pull_request) return { status: 202, outcome: 'ignored', message: 'a comment on an issue, not on a pull request' };
    const cmd = parsePrCommand(typeof p.comment?.body === 'string' ? p.comment.body : '');
    if (!cmd) return { status: 202, outcome: 'ignored', message: 'not a /mayfly command' };
    const login = p.comment?.user?.login ?? '';
    if (p.comment?.user?.type === 'Bot' || !LOGIN.test(login)) return { status: 202, outcome: 'ignored', message: 'commands from bots are not taken' };
    const text = (typeof p.comment?.body === 'string' ? p.comment.body : '').trim().split(/\r?\n/)[0]!.slice(0, 100);
    const name = `${template}-pr-${number}`;
    // Answered by the worker's notifier; without MAYFLY_GITHUB_TOKEN there is no one to answer.
    const answer = async (reaction: '+1' | 'confused', body?: string) => {
      if (config.doors.githubToken) await notifications.queueGithubReply({ repo, number: number as number, commentId: commentId as number, reaction, ...(body ? { body } : {}) });
    };
    const refuse = async (why: string) => {
      await answer('confused', refusalReply(login, text, why));
      return { status: 200, outcome: 'refused', environment: name, message: why };
    };

    if (cmd.kind === 'help') {
      await answer('+1', `@${login} Mayfly's environment for this pull request is \`${name}\`. Commands (a comment that starts with one): ${PR_COMMANDS_HELP}`);
      return { status: 200, outcome: 'help', environment: name };
    }
    if (cmd.kind === 'unknown') return refuse(cmd.problem);
    const env = await store.getByName(name);
    const origin = `github:${repo}#${number}`;
    if (!env || env.status === 'destroyed') return refuse(`this pull request has no live Mayfly environment (\`${name}\`); it gets one when it is opened or pushed to`);
    try {
      assertOrigin(env, origin);
    } catch (err) {
      if (err instanceof ConflictError) return refuse(err.message);
      throw err;
    }
    // Anyone can comment on a pull request: only logins MAYFLY_TEAMS or MAYFLY_ADMINS name are
    // someone to Mayfly (like a valid token); the rules of core/app/authorization.ts decide the rest.
    const who = `github:${login}`;
    if (!config.teams.members.has(who) && !config.teams.admins.has(who)) {
      return refuse(`${who} is in no team (MAYFLY_TEAMS), so Mayfly does not act for it; an admin can add ${who} to the team of \`${name}\` ("${env.team}")`);
    }
    const actor = principalFor(config.teams, who, 'user', 'github');
    let outcome: string;
    try {
      outcome = await act(actor, env, cmd, origin);
    } catch (err) {
      if (!(err instanceof MayflyError) || err.status >= 500) throw err;
      const details = Array.isArray(err.details) ? (err.details as { field: string; message: string }[]) : [];
      return refuse(details.length ? details.map((d) => `${d.field} ${d.message}`).join('; ') : err.message);
    }
    await store.addEvent(env.id, 'github-command', `${text} by ${who} on ${repo}#${number}: ${outcome}`, { by: who, text, outcome, comment: commentId });
    await answer('+1');
    return { status: 202, outcome: 'done', environment: name, message: outcome };
  }

  async function act(actor: Principal, env: Environment, cmd: Exclude<PrCommand, { kind: 'help' | 'unknown' }>, origin: string): Promise<string> {
    switch (cmd.kind) {
      case 'extend': {
        const moved = await deps.environments.extend(actor, env, cmd.ttl);
        return `lease extended to ${moved.expiresAt.toISOString()}`;
      }
      case 'reset-db':
        await deps.environments.reset(actor, env);
        return 'database reset to its seed';
      case 'redeploy':
        await deps.environments.deploy(actor, {
          name: env.name, template: env.template, owner: actor.name, images: env.images, seed: env.seed, ttlSeconds: env.ttlSeconds, door: 'github', team: env.team,
        }, { ttlGiven: false, forceRedeploy: true, origin });
        return 'redeploying';
      case 'destroy':
        await deps.environments.destroy(actor, env, 'destroyed');
        return 'destroying';
      case 'capsule': {
        const { capsule } = await deps.capsuleService.take(actor, env, cmd.note !== undefined ? { note: cmd.note } : {}, deps.requestTrail?.recent(env.id) ?? []);
        return `bug capsule ${capsule.id} taken (archive: ${capsuleDownload(deps.config.publicUrl, capsule.id)}; bring it up with mayfly deploy <new-name> --capsule ${capsule.id})`;
      }
    }
  }

  return router;
}
