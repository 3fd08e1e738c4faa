import express, { Router, type Request, type Response } from 'express';
import { InputError, NotFoundError, SignatureError } from '../../core/domain/errors.js';
import { safeEqual } from '../../core/doors/signatures.js';
import type { ApiDeps } from '../deps.js';
import { BODY_LIMITS, bodyLimit } from '../middleware/body-limit.js';
import { rule } from '../access.js';
import { closeReview, deployReview, type DoorOutcome } from './review-door.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'catalog' | 'config' | 'environments' | 'logger' | 'notifications' | 'store'>;

interface MergeRequestPayload {
  object_kind?: string;
  user?: { username?: string };
  project?: { id?: number; path_with_namespace?: string };
  object_attributes?: {
    iid?: number;
    action?: string;
    oldrev?: string;
    source_project_id?: number;
    target_project_id?: number;
    last_commit?: { id?: string };
  };
}

const DEPLOY_ACTIONS = new Set(['open', 'reopen', 'update']);
const SHA = /^[0-9a-f]{7,64}$/i;
/** A GitLab user name: letters, digits, `_`, `-`, `.` (at most 255). */
const USERNAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$/;

/**
 * POST /webhooks/gitlab: merge requests get environments named `<template>-mr-<iid>`. The
 * X-Gitlab-Token header is compared in constant time with MAYFLY_GITLAB_WEBHOOK_TOKEN. open /
 * reopen create or redeploy it; update redeploys it when commits were pushed (GitLab sends
 * `oldrev`; a title edit is ignored); merge and close destroy it with reason
 * `merge-request-merged` / `merge-request-closed`. The environment's one note on the merge
 * request is written by the worker's notifier (kind `gitlab-mr`). Other events get 2xx and nothing.
 */
export function gitlabRouter(deps: Deps): Router {
  const { config, notifications, logger, store } = deps;
  const { gitlabWebhookToken: secret, gitlabTemplate: template } = config.doors;
  const router = Router();
  router.use('/gitlab', bodyLimit(BODY_LIMITS.github), express.raw({ type: () => true, limit: BODY_LIMITS.github }));

  router.post('/gitlab', rule('signature'), async (req: Request, res: Response) => {
    if (!secret || !template) throw new NotFoundError('GITLAB_NOT_CONFIGURED', 'the GitLab webhook is not enabled on this server (MAYFLY_GITLAB_WEBHOOK_TOKEN is not set)');
    const token = req.get('x-gitlab-token');
    if (!token || !safeEqual(token, secret)) {
      logger.warn({ requestId: req.requestId, event: req.get('x-gitlab-event') }, 'refused a GitLab webhook: bad or missing X-Gitlab-Token');
      throw new SignatureError('the X-Gitlab-Token is missing or wrong (set the webhook\'s secret token to MAYFLY_GITLAB_WEBHOOK_TOKEN)');
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let payload: MergeRequestPayload;
    try {
      payload = JSON.parse(raw.toString('utf8')) as MergeRequestPayload;
    } catch {
      throw new InputError('the webhook body is not JSON', [{ field: '(body)', message: 'must be JSON' }]);
    }
    const event = req.get('x-gitlab-event') ?? '';
    const outcome = await handle(event, payload, template);
    res.status(outcome.status).json(outcome);
  });

  async function handle(event: string, p: MergeRequestPayload, tpl: string): Promise<DoorOutcome> {
    if (event !== 'Merge Request Hook' || p.object_kind !== 'merge_request') return { status: 202, outcome: 'ignored', message: `event "${event.slice(0, 60)}" is not used` };
    const mr = p.object_attributes;
    const iid = mr?.iid;
    const project = p.project?.id;
    const path = p.project?.path_with_namespace;
    if (!Number.isSafeInteger(iid) || (iid as number) <= 0 || !Number.isSafeInteger(project) || (project as number) <= 0 || typeof path !== 'string' || !/^[\w.-]+(?:\/[\w.-]+)+$/.test(path)) {
      throw new InputError('not a merge request payload', [{ field: 'object_attributes.iid', message: 'is required, with project.id and project.path_with_namespace' }]);
    }
    const name = `${tpl}-mr-${iid}`;
    const username = p.user?.username && USERNAME.test(p.user.username) ? p.user.username : 'unknown';
    const by = `gitlab:${username}`;
    // The door acts only on environments it created for this project's merge request.
    const origin = `gitlab:${path}!${iid}`;
    const action = mr?.action ?? '';
    if (action === 'merge' || action === 'close') {
      return closeReview(deps, { name, origin, by, door: 'gitlab', reason: action === 'merge' ? 'merge-request-merged' : 'merge-request-closed' });
    }
    if (!DEPLOY_ACTIONS.has(action)) return { status: 202, outcome: 'ignored', message: `action "${action.slice(0, 30)}" is not used` };
    if (action === 'update' && !mr?.oldrev) return { status: 202, outcome: 'ignored', message: 'an update without new commits (no oldrev)' };
    if (mr?.source_project_id !== undefined && mr.source_project_id !== mr.target_project_id) {
      return { status: 202, outcome: 'ignored-fork', message: `merge request from project ${mr.source_project_id}: merge requests from forks get no environment` };
    }
    const sha = typeof mr?.last_commit?.id === 'string' && SHA.test(mr.last_commit.id) ? mr.last_commit.id : undefined;
    if (config.doors.gitlabTag === 'sha' && !sha) throw new InputError('no commit in the merge request payload', [{ field: 'object_attributes.last_commit.id', message: 'is required with MAYFLY_GITLAB_TAG=sha' }]);
    const result = await deployReview(deps, {
      name, template: tpl, tag: config.doors.gitlabTag === 'sha' ? sha! : `mr-${iid}`, door: 'gitlab', origin, author: by, force: action === 'update',
    });
    if (!('env' in result)) return result;
    const { env } = result;
    if (config.doors.gitlabToken) {
      // The merge request's one note: one subscription per environment and merge request; a new
      // commit is merged into its data (the note id it knows stays).
      await notifications.subscribe(env.id, 'gitlab-mr', `${project}!${iid}`, {
        fromStart: true, mergeData: true, data: { project, path, iid, ...(sha ? { sha } : {}) },
      });
    }
    await store.addEvent(env.id, 'gitlab', `merge request ${path}!${iid} ${action}${sha ? ` (${sha.slice(0, 12)})` : ''}: ${result.action}`, { project: path, iid, sha: sha ?? null, action });
    return { status: 202, outcome: result.action, environment: env.name };
  }

  return router;
}
