import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Router, type Request, type Response } from 'express';
import { SETTLED, type Door, type Environment, type Status, STATUSES } from '../../core/domain/environment.js';
import { parseDuration } from '../../core/domain/duration.js';
import { ConflictError, InputError, NotFoundError } from '../../core/domain/errors.js';
import { NAME_PATTERN, validateEnvironmentRequest, type ValidRequest } from '../../core/doors/requests.js';
import { CapsuleRestoreRequest, CheckpointRequest, ExtendRequest, ForkRequest, PathEnvironmentName, QueueQuery, RewindRequest, SnapshotRequest, StatusQuery, TailQuery, WaitQuery } from '../../core/api/schemas.js';
import { inputError, paramProblem, parseParam, unknownFields } from '../../core/api/validate.js';
import type { ApiDeps } from '../deps.js';
import { presentCheckpoint, presentEnvironment, presentEvent } from '../presenters.js';
import { lastEventId, streamEvents, wantsEventStream } from '../sse.js';
import { workerClientOf } from '../worker-client.js';
import { rule } from '../access.js';
import { previewAccessOf } from '../../core/app/previews.js';
import { shareUrl } from '../web/previews.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'admission' | 'audit' | 'capsuleService' | 'catalog' | 'changes' | 'config' | 'environments' | 'listCache' | 'notifications' | 'snapshots' | 'store'>;

/** How long a PUT for a name that is being torn down waits for the teardown before creating. */
const DESTROYING_WAIT_MS = 120_000;

function parseWait(req: Request): number {
  const raw = req.query.wait;
  if (raw === undefined || raw === '') return 0;
  return parseDuration(parseParam(WaitQuery, 'wait', String(raw)))!;
}

function pathName(req: Request): string {
  return parseParam(PathEnvironmentName, 'name', String(req.params.name), 'invalid environment name');
}

/**
 * Whether the caller refuses to wait in line: `?queue=false` or `Prefer: no-queue`. Past a limit
 * such a request gets 429 with Retry-After and creates nothing.
 */
function wantsNoQueue(req: Request): boolean {
  const q = req.query.queue;
  if (q !== undefined) parseParam(QueueQuery, 'queue', q);
  return q === 'false' || /(^|[,;\s])no-queue($|[,;\s])/i.test(req.get('prefer') ?? '');
}

/** The door of a REST request: the CLI and the web UI say who they are (X-Mayfly-Client). */
function doorOf(req: Request): Door {
  const client = (req.get('x-mayfly-client') ?? '').toLowerCase();
  return client === 'cli' || client === 'web' ? client : 'api';
}

export function environmentsRouter(deps: Deps): Router {
  const { store, catalog, config, environments } = deps;
  const router = Router();
  const worker = workerClientOf(deps);
  const previews = previewAccessOf(config, catalog, { audit: deps.audit, store });
  const entryOf = (env: Environment) => (catalog.has(env.template) ? catalog.get(env.template).entryService : undefined);
  /** Presents environments, with their place in line when they wait for capacity. */
  async function presentAll(envs: Environment[]) {
    const line = envs.some((e) => e.status === 'queued') ? await deps.admission.lineInfo() : new Map();
    return envs.map((env) => presentEnvironment(env, config.publicUrl, entryOf(env), line.get(env.id), previews.accessOf(env)));
  }
  const present = async (env: Environment) => (await presentAll([env]))[0]!;

  const find = (name: string) => environments.find(name);

  /** Holds the answer until the environment settles (ready, failed, destroyed) or time is up. */
  async function waitUntilSettled(req: Request, env: Environment, seconds: number): Promise<Environment> {
    const deadline = Date.now() + seconds * 1000;
    let tick = deps.changes?.tick;
    let current = (await store.getById(env.id)) ?? env;
    let gone = false;
    req.on('close', () => { gone = true; });
    while (!SETTLED.includes(current.status) && Date.now() < deadline && !gone) {
      const left = Math.max(0, deadline - Date.now());
      // Woken by the change feed when anything is committed; without one, it looks every 250 ms.
      if (deps.changes) await deps.changes.next(left, { since: tick });
      else await sleep(Math.min(250, left));
      tick = deps.changes?.tick;
      current = (await store.getById(env.id)) ?? current;
    }
    return current;
  }

  async function deploy(req: Request, res: Response, valid: ValidRequest, name: string, createOnly: boolean): Promise<void> {
    const owner = req.principal!.name;
    if (valid.callbackUrl && !config.doors.callbackSecret) {
      throw new InputError('invalid request: callbackUrl', [{ field: 'callbackUrl', message: 'callbacks are not enabled on this server (MAYFLY_CALLBACK_SECRET is not set)' }]);
    }
    const input = { name, template: valid.template, owner, images: valid.images, seed: valid.seed, ttlSeconds: valid.ttlSeconds, door: doorOf(req), ...(valid.access ? { access: valid.access } : {}) };
    // A name being torn down is waited for, then created anew: never a ghost.
    const result = await environments.deploy(req.principal!, input, { ttlGiven: valid.ttlGiven, createOnly, waitDestroyingMs: DESTROYING_WAIT_MS, noQueue: wantsNoQueue(req) });
    const { env, action, delivery } = result;
    if (valid.callbackUrl) {
      await deps.notifications.setDoorDetails(env.id, { callbackUrl: valid.callbackUrl, callbackSecretRef: 'MAYFLY_CALLBACK_SECRET' });
      await deps.notifications.subscribe(env.id, 'callback', valid.callbackUrl, { fromStart: action === 'created', data: { secretRef: 'MAYFLY_CALLBACK_SECRET' } });
    }
    const wait = parseWait(req);
    const shown = wait ? await waitUntilSettled(req, env, wait) : env;
    // 202: a deploy was queued (created or redeployed); 200: nothing to do, the PUT was a no-op.
    res.status(action === 'unchanged' ? 200 : 202);
    res.setHeader('Location', `${config.publicUrl}/api/v1/environments/${env.name}`);
    // delivery 'deferred': accepted and recorded while Redis did not answer; it starts when Redis is back.
    res.json({ ...(await present(shown)), action, delivery });
  }

  router.get('/', rule('environment.list'), async (req, res) => {
    const statuses = req.query.status ? parseParam(StatusQuery, 'status', String(req.query.status)).split(',') : undefined;
    const compute = async () => {
      const list = await store.list({
        statuses: (statuses as Status[] | undefined) ?? (req.query.all === 'true' ? undefined : STATUSES.filter((s) => s !== 'destroyed')),
        ...(req.query.template ? { template: String(req.query.template) } : {}),
        ...(req.query.owner ? { owner: String(req.query.owner) } : {}),
        ...(req.query.team ? { team: String(req.query.team) } : {}),
      });
      return JSON.stringify({ environments: await presentAll(list) });
    };
    // Every caller may list every environment, so one answer per query string serves all of them.
    if (!deps.listCache) return void res.type('application/json').send(await compute());
    // The bytes and ETag are made once per cached answer; express answers 304 to a matching If-None-Match.
    const body = await deps.listCache.get(req.originalUrl, compute);
    res.type('application/json').setHeader('ETag', body.etag);
    res.send(body.buffer);
  });

  /** Datasets saved from environments of the requested template (accepted as seeds too). */
  async function savedSeeds(body: unknown): Promise<string[]> {
    const b = body as { seed?: unknown; template?: unknown } | null;
    if (!b || typeof b.seed !== 'string' || typeof b.template !== 'string' || !NAME_PATTERN.test(b.seed)) return [];
    const saved = await deps.snapshots.savedDataset(b.seed);
    return saved && saved.template === b.template ? [b.seed] : [];
  }

  /**
   * A new environment brought up from a bug capsule (`{"capsule": "cap-..."}`): its template, seed
   * and image digests come from the capsule, its data too (core/app/capsules.ts). Never a redeploy:
   * a name in use is refused (409 NAME_TAKEN).
   */
  async function restoreCapsule(req: Request, res: Response, name: string): Promise<void> {
    const body = req.body as Record<string, unknown>;
    const unknown = unknownFields(CapsuleRestoreRequest, body);
    if (unknown.length) throw inputError(unknown);
    const access = body.access;
    if (access !== undefined && access !== 'public' && access !== 'signed-in' && access !== 'team') {
      throw new InputError('invalid request: access', [{ field: 'access', message: 'must be "public", "signed-in" or "team"' }]);
    }
    const { env, delivery } = await deps.capsuleService.restore(req.principal!, name, body.capsule, { ttl: body.ttl, door: doorOf(req), noQueue: wantsNoQueue(req), ...(access ? { access } : {}) });
    const wait = parseWait(req);
    const shown = wait ? await waitUntilSettled(req, env, wait) : env;
    res.status(202).setHeader('Location', `${config.publicUrl}/api/v1/environments/${env.name}`);
    res.json({ ...(await present(shown)), action: 'created', delivery });
  }
  const namesCapsule = (body: unknown) => !!body && typeof body === 'object' && !Array.isArray(body) && 'capsule' in body;

  router.post('/', rule('environment.create'), async (req, res) => {
    if (namesCapsule(req.body)) {
      const given = (req.body as { name?: unknown }).name;
      return restoreCapsule(req, res, typeof given === 'string' ? given : `bug-${randomBytes(3).toString('hex')}`);
    }
    const valid = validateEnvironmentRequest(req.body, catalog, undefined, await savedSeeds(req.body), { callbackAllow: config.doors.callbackAllow });
    const name = valid.name ?? `${valid.template}-${randomBytes(3).toString('hex')}`.slice(0, 63);
    await deploy(req, res, valid, name, true);
  });

  router.put('/:name', rule('environment.create'), async (req, res) => {
    const name = pathName(req);
    if (namesCapsule(req.body)) {
      if ((req.body as { name?: unknown }).name !== undefined) throw new InputError('invalid request: name', [{ field: 'name', message: 'PUT takes the name from the path; leave it out of the body' }]);
      return restoreCapsule(req, res, name);
    }
    const valid = validateEnvironmentRequest(req.body, catalog, name, await savedSeeds(req.body), { callbackAllow: config.doors.callbackAllow });
    await deploy(req, res, valid, name, false);
  });

  router.get('/:name', rule('environment.view'), async (req, res) => {
    const wait = parseWait(req);
    let env = await find(pathName(req));
    if (wait) env = await waitUntilSettled(req, env, wait);
    res.json(await present(env));
  });

  router.get('/:name/events', rule('environment.view'), async (req, res) => {
    const env = await find(pathName(req));
    // Accept: text/event-stream: the timeline live (past events first), until it is destroyed.
    if (wantsEventStream(req)) return streamEvents(req, res, store, env, { afterId: lastEventId(req), heartbeatMs: config.web.sseHeartbeatMs, ...(deps.changes ? { changes: deps.changes } : {}) });
    res.json({ environment: env.name, id: env.id, events: (await store.events(env.id)).map(presentEvent) });
  });

  /** A service's output as text, streamed from the worker (which alone reads Docker). */
  router.get('/:name/logs', rule('environment.view'), async (req, res) => {
    const env = await find(pathName(req));
    const template = catalog.has(env.template) ? catalog.get(env.template) : undefined;
    const service = typeof req.query.service === 'string' && req.query.service ? req.query.service : template?.entryService ?? '';
    const tailText = typeof req.query.tail === 'string' && req.query.tail !== '' ? req.query.tail : '100';
    const tail = Number(tailText);
    const problems = [];
    if (template && !template.images[service]) problems.push({ field: 'service', message: `template "${template.name}" has no service "${service.slice(0, 40)}"; services: ${Object.keys(template.images).join(', ')}` });
    const tailProblem = paramProblem(TailQuery, 'tail', tailText);
    if (tailProblem) problems.push(tailProblem);
    if (problems.length) throw new InputError(`invalid query: ${problems.map((p) => p.field).join(', ')}`, problems);
    const follow = req.query.follow === 'true' || req.query.follow === '1';
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const stream = await worker.logs(env.id, service, { tail, follow }, abort.signal);
    res.status(200).set({ 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.flushHeaders();
    stream.on('error', () => res.end());
    stream.pipe(res);
  });

  router.post('/:name/extend', rule('environment.extend'), async (req, res) => {
    const env = await find(pathName(req));
    const body = (req.body ?? {}) as Record<string, unknown>;
    // The ttl itself is the application layer's to check (after the ownership check).
    const unknown = unknownFields(ExtendRequest, body);
    if (unknown.length) throw inputError(unknown);
    res.json(await present(await environments.extend(req.principal!, env, body.ttl)));
  });

  router.post('/:name/reset-db', rule('environment.reset'), async (req, res) => {
    const moved = await environments.reset(req.principal!, await find(pathName(req)));
    const wait = parseWait(req);
    res.status(202).json(await present(wait ? await waitUntilSettled(req, moved, wait) : moved));
  });

  router.post('/:name/snapshots', rule('environment.snapshot'), async (req, res) => {
    const env = await find(pathName(req));
    const body = (req.body ?? {}) as Record<string, unknown>;
    // The name itself is the application layer's to check (after the ownership check).
    const unknown = unknownFields(SnapshotRequest, body);
    if (unknown.length) throw inputError(unknown);
    const { dataset } = await environments.saveSnapshot(req.principal!, env, body.name);
    res.status(202).json({ dataset, template: env.template, source: env.name, status: 'saving', links: { seeds: `${config.publicUrl}/api/v1/seeds` } });
  });

  /** The fields of a body (its values are the application layer's to check, after the ownership check). */
  const bodyOf = (req: Request, schema: Parameters<typeof unknownFields>[0]) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const unknown = unknownFields(schema, body);
    if (unknown.length) throw inputError(unknown);
    return body;
  };

  router.get('/:name/checkpoints', rule('environment.view'), async (req, res) => {
    const env = await find(pathName(req));
    const list = await environments.checkpoints(req.principal!, env);
    res.json({ environment: env.name, limit: config.dataWorkflows.checkpointsPerEnvironment, checkpoints: list.map(presentCheckpoint) });
  });

  router.post('/:name/checkpoints', rule('environment.checkpoint'), async (req, res) => {
    const env = await find(pathName(req));
    bodyOf(req, CheckpointRequest);
    const { checkpoint, delivery } = await environments.checkpoint(req.principal!, env);
    res.status(202).json({ ...presentCheckpoint(checkpoint), delivery });
  });

  router.post('/:name/rewind', rule('environment.rewind'), async (req, res) => {
    const env = await find(pathName(req));
    const body = bodyOf(req, RewindRequest);
    const moved = await environments.rewind(req.principal!, env, body.checkpoint);
    const wait = parseWait(req);
    res.status(202).json(await present(wait ? await waitUntilSettled(req, moved, wait) : moved));
  });

  router.get('/:name/forks', rule('environment.view'), async (req, res) => {
    const env = await find(pathName(req));
    res.json({ environment: env.name, forks: await presentAll(await environments.forks(req.principal!, env)) });
  });

  router.post('/:name/forks', rule('environment.fork'), async (req, res) => {
    const parent = await find(pathName(req));
    const body = bodyOf(req, ForkRequest);
    const { env, delivery } = await environments.fork(req.principal!, parent, body.for, { door: doorOf(req), noQueue: wantsNoQueue(req) });
    const wait = parseWait(req);
    const shown = wait ? await waitUntilSettled(req, env, wait) : env;
    res.status(202).setHeader('Location', `${config.publicUrl}/api/v1/environments/${env.name}`);
    res.json({ ...(await present(shown)), action: 'created', delivery });
  });

  /** A link that opens this one environment without an account, until it expires (team rule). */
  router.post('/:name/share', rule('environment.share'), async (req, res) => {
    const env = await find(pathName(req));
    const body = (req.body ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(body).filter((k) => k !== 'ttl');
    if (unknown.length) throw new InputError(`invalid request: ${unknown.join(', ')}`, unknown.map((field) => ({ field, message: 'unknown field; allowed: ttl' })));
    const { token, expiresAt } = await previews.share(req.principal!, env, body.ttl);
    res.status(201).json({ environment: env.name, url: shareUrl(config.router, env.name, token), expiresAt: expiresAt.toISOString() });
  });

  router.delete('/:name', rule('environment.destroy'), async (req, res) => {
    let current = await environments.destroy(req.principal!, await find(pathName(req)));
    const wait = parseWait(req);
    if (wait) current = await waitUntilSettled(req, current, wait);
    res.status(202).json(await present(current));
  });

  return router;
}
