/**
 * The QA web pages: the environments table, the new-environment form and an environment's page,
 * server-rendered (api/views) and usable without JavaScript; the live status and timeline are a
 * progressive enhancement (api/public/live.js over server-sent events). Every change goes through
 * the same core functions as REST (validateEnvironmentRequest + deployEnvironment, core/actions),
 * every POST carries the session's CSRF token, and every POST answers with a redirect (PRG).
 */
import { randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { STATUSES, type Environment, type Status } from '../../core/domain/environment.js';
import { formatDuration } from '../../core/domain/duration.js';
import { InputError, MayflyError, errorMessage, type FieldProblem } from '../../core/domain/errors.js';
import { parseImageRef } from '../../core/domain/image-ref.js';
import { NAME_PATTERN, validateEnvironmentRequest } from '../../core/doors/requests.js';
import type { ApiDeps } from '../deps.js';
import { clientAddress } from '../middleware/auth-failures.js';
import { presentEnvironment, presentEvent } from '../presenters.js';
import type { QueueInfo } from '../../core/app/admission.js';
import { streamEvents } from '../sse.js';
import { workerClientOf } from '../worker-client.js';
import { PUBLIC_DIR, Views } from './render.js';
import { SessionKeeper, parseCookies } from './session.js';
import { rule } from '../access.js';
import { allowed, environmentTarget, type Action } from '../../core/app/authorization.js';
import { RegistryTags } from '../../core/catalog/registry-tags.js';
import { checkImagesExist } from '../../core/app/image-check.js';
import { attentionOrder, groupTimeline, overviewContext, prefillFrom, suggestName, tagsOfTemplate } from './qa.js';
import { datasetPages } from './datasets.js';
import { formatBytes } from '../../core/domain/bytes.js';
import { archiveEntries } from '../routes/capsules.js';
import { tarGz } from '../tar.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'admission' | 'audit' | 'authFailures' | 'capsuleService' | 'requestTrail' | 'catalog' | 'changes' | 'config' | 'datasets' | 'environments' | 'logger' | 'overview' | 'registryTags' | 'savedDatasets' | 'snapshots' | 'store'>;

const LOG_LINES = 40;
/** Timeline rows an environment's page shows unless asked for all (?events=all). */
const TIMELINE_ROWS = 20;
/** The cookie that remembers the list's "mine only" filter. */
const LIST_COOKIE = 'mayfly_list';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** "in 3h59m", "expired", or "" for a destroyed one. */
function expiresIn(env: Environment): string {
  if (env.status === 'destroyed') return '';
  const s = Math.round((env.expiresAt.getTime() - Date.now()) / 1000);
  return s > 0 ? `in ${formatDuration(s)}` : 'expired';
}

/** Service -> tag (or the whole reference when it has none), as the table shows it. */
function tagsOf(env: Environment): { service: string; tag: string }[] {
  return Object.entries(env.images).map(([service, image]) => ({ service, tag: parseImageRef(image)?.tag ?? image }));
}

/** Runs the validation, adding the registry's tag problems to its own (each field once); throws when there are any. */
function withTagProblems<T>(tagProblems: FieldProblem[], validate: () => T): T {
  let valid: T;
  try {
    valid = validate();
  } catch (err) {
    if (!(err instanceof InputError) || !tagProblems.length) throw err;
    const extra = tagProblems.filter((p) => !err.problems.some((q) => q.field === p.field));
    throw new InputError(err.message, [...err.problems, ...extra]);
  }
  if (tagProblems.length) throw new InputError(`unknown image tag: ${tagProblems.map((p) => p.field).join(', ')}`, tagProblems);
  return valid;
}

/** Only local paths: `next` must not send a signed-in person to another site. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '/';
}

export function webRouter(deps: Deps): Router {
  const { config, store, catalog } = deps;
  const views = new Views();
  const sessions = new SessionKeeper(config);
  const worker = workerClientOf(deps);
  const tagSource = deps.registryTags ?? new RegistryTags({ registry: config.registry, credentials: config.registryAuth });
  const router = Router();
  if (config.web.sessionSecretGenerated) {
    deps.logger.warn('MAYFLY_SESSION_SECRET is not set: a random one was made for this process, so web sessions end when it restarts');
  }
  const entry = (env: Environment) => (catalog.has(env.template) ? catalog.get(env.template).entryService : undefined);
  /** Environments as the API presents them, with their place in line when they wait for capacity. */
  const line = async (envs: Environment[]) => (envs.some((e) => e.status === 'queued') ? deps.admission.lineInfo() : new Map<string, QueueInfo>());
  const present = (env: Environment, queue?: Map<string, QueueInfo>) => presentEnvironment(env, config.publicUrl, entry(env), queue?.get(env.id));

  const page = (req: Request, res: Response, view: string, context: Record<string, unknown>, status = 200) => {
    res.status(status).set({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin', 'Cache-Control': 'no-store' });
    res.type('html').send(views.render(view, {
      ...context,
      user: req.principal ? { name: req.principal.name, team: req.principal.team, viaProxy: req.signedInBy === 'proxy' } : undefined,
      csrf: req.session ? sessions.csrfToken(req.session) : '',
      flash: sessions.takeFlash(req, res),
    }));
  };
  const back = (res: Response, to: string, kind: 'ok' | 'error', text: string) => {
    sessions.flash(res, { kind, text });
    res.redirect(303, to);
  };

  const session = sessions.middleware();
  const form = express.urlencoded({ extended: false, limit: '32kb' });
  /** Pages for signed-in people only; others go to the sign-in page and come back. */
  const signedIn = (req: Request, res: Response, next: NextFunction) => {
    if (req.principal) return next();
    res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
  };
  /** Every form POST carries the session's CSRF token (a hidden field), else 403 and a page saying so. */
  const csrf = (req: Request, res: Response, next: NextFunction) => {
    if (sessions.checkCsrf(req.session, (req.body as Record<string, unknown> | undefined)?._csrf)) return next();
    page(req, res, 'forbidden', { title: 'Form refused' }, 403);
  };
  const post = [session, form, csrf];

  router.use('/static', express.static(PUBLIC_DIR, { maxAge: '1h', index: false }));

  // ---- sign-in -------------------------------------------------------------------------------
  router.get('/sign-in', rule('public'), session, (req, res) => {
    if (req.principal) return res.redirect(303, safeNext(req.query.next));
    page(req, res, 'sign-in', { title: 'Sign in', next: safeNext(req.query.next), noTokens: config.apiTokens.length === 0 });
  });

  router.post('/sign-in', rule('public'), ...post, (req, res) => {
    const body = req.body as Record<string, unknown>;
    const next = safeNext(body.next);
    // Wrong tokens count per address, together with the API's (MAYFLY_AUTH_FAILURES_PER_MINUTE).
    const address = clientAddress(req, config.web.trustedProxies);
    const wait = deps.authFailures?.blockedFor(address) ?? 0;
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      return page(req, res, 'sign-in', { title: 'Sign in', next, error: `Too many wrong tokens from your address. Try again in ${wait} s.` }, 429);
    }
    const name = typeof body.token === 'string' && body.token ? sessions.tokenName(body.token.trim()) : undefined;
    if (!name) {
      deps.authFailures?.failed(address);
      return page(req, res, 'sign-in', { title: 'Sign in', next, error: 'That token is not valid. Ask an administrator for yours (MAYFLY_API_TOKENS).' }, 401);
    }
    sessions.start(res, name);
    sessions.flash(res, { kind: 'ok', text: `Signed in as ${name}.` });
    res.redirect(303, next);
  });

  router.post('/sign-out', rule('public'), ...post, (req, res) => {
    sessions.start(res);
    res.redirect(303, '/sign-in');
  });

  // ---- the environments table ------------------------------------------------------------------
  router.get('/', session, signedIn, rule('environment.list'), async (req, res) => {
    const q = req.query;
    // "Mine only" is remembered: a query that says it (the filter form sends filtered=1, so an
    // unchecked box counts; a link may send mine=1) sets it, else the cookie decides.
    const sent = q.filtered === '1' || q.mine !== undefined;
    const mine = sent ? q.mine === '1' || q.mine === 'on' : parseCookies(req.get('cookie'))[LIST_COOKIE] === 'mine';
    if (sent) res.append('Set-Cookie', `${LIST_COOKIE}=${mine ? 'mine' : 'all'}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000${config.web.secureCookies ? '; Secure' : ''}`);
    const template = typeof q.template === 'string' && catalog.has(q.template) ? q.template : '';
    const status = typeof q.status === 'string' && (STATUSES as readonly string[]).includes(q.status) ? (q.status as Status) : '';
    const list = await store.list({
      statuses: status ? [status] : STATUSES.filter((s) => s !== 'destroyed'),
      ...(template ? { template } : {}),
      ...(mine ? { owner: req.principal!.name } : {}),
    });
    const queue = await line(list);
    const rows = attentionOrder(list, req.principal!.name).map(({ env, attention }) => {
      const p = present(env, queue);
      return { ...p, tags: tagsOf(env), expiresIn: expiresIn(env), canAct: env.status !== 'destroying' && env.status !== 'destroyed', attention, mine: env.owner === req.principal!.name };
    });
    page(req, res, 'list', {
      title: 'Environments', rows,
      filters: { mine, template, status },
      templates: catalog.list().map((t) => ({ name: t.name, selected: t.name === template })),
      statuses: STATUSES.map((s) => ({ name: s, selected: s === status })),
    });
  });

  // ---- the overview: the whole installation -----------------------------------------------------
  router.get('/overview', session, signedIn, rule('overview.view'), async (req, res) => {
    page(req, res, 'overview', await overviewContext(deps.overview, deps.admission, catalog));
  });

  // ---- the new-environment form ----------------------------------------------------------------
  /** The form's fields for a template: its defaults, overlaid with what the person typed. */
  async function formContext(templateName: string, values: Record<string, string>, problems: FieldProblem[]) {
    const template = catalog.has(templateName) ? catalog.get(templateName) : catalog.list()[0];
    const saved = template ? (await deps.snapshots.list()).filter((s) => s.kind === 'saved' && s.status === 'ready' && s.template === template.name) : [];
    const errorOf = (field: string) => problems.filter((p) => p.field === field).map((p) => p.message).join('; ') || undefined;
    const known = new Set(['template', 'name', 'tag', 'seed', 'ttl', ...Object.keys(template?.images ?? {}).map((s) => `images.${s}`)]);
    // The registry's tags of each image (cached briefly): a datalist per field, free text kept.
    const registryTags = template ? await tagsOfTemplate(tagSource, template) : {};
    const taggableTags = template ? Object.entries(template.images).filter(([, i]) => i.taggable).map(([s]) => registryTags[s]) : [];
    const allTags = [...new Map(taggableTags.flatMap((t) => t?.tags ?? []).map((t) => [t.tag, t])).values()];
    return {
      title: 'New environment',
      values,
      templates: catalog.list().map((t) => ({ name: t.name, description: t.description, selected: t.name === template?.name })),
      template: template && {
        name: template.name,
        description: template.description,
        services: Object.entries(template.images).map(([service, img]) => ({
          service, image: img.image, taggable: img.taggable, defaultTag: parseImageRef(img.image)?.tag ?? 'latest',
          value: values[`images.${service}`] ?? '', error: errorOf(`images.${service}`),
          registryTags: registryTags[service]?.tags ?? [], tagsNote: registryTags[service]?.note,
        })),
        allTags, tagsNote: taggableTags.find((t) => t?.note)?.note,
        seeds: [...template.seeds.allowed, ...saved.map((s) => s.dataset)]
          .map((name) => ({ name, selected: name === (values.seed ?? template.seeds.default) })),
        ttlDefault: formatDuration(template.ttl.defaultSeconds),
        ttlMax: formatDuration(template.ttl.maxSeconds),
      },
      errors: { name: errorOf('name'), template: errorOf('template'), tag: errorOf('tag'), seed: errorOf('seed'), ttl: errorOf('ttl') },
      // Problems with no field of their own on the form (shown above it).
      otherErrors: problems.filter((p) => !known.has(p.field)),
      hasErrors: problems.length > 0,
    };
  }

  router.get('/environments/new', session, signedIn, rule('environment.create'), async (req, res) => {
    const values: Record<string, string> = {};
    for (const key of ['name', 'tag', 'seed', 'ttl']) if (typeof req.query[key] === 'string') values[key] = req.query[key] as string;
    let templateName = typeof req.query.template === 'string' ? req.query.template : '';
    // "Another one like this": the form filled in from an environment (its template, tags, seed, TTL) and a free name.
    const from = typeof req.query.from === 'string' && NAME_PATTERN.test(req.query.from) ? await store.getByName(req.query.from) : undefined;
    let like: string | undefined;
    if (from && catalog.has(from.template)) {
      templateName = from.template;
      Object.assign(values, prefillFrom(from, catalog.get(from.template), catalog), values.name ? { name: values.name } : {});
      values.name ??= await suggestName(from.name, async (n) => { const e = await store.getByName(n); return !!e && e.status !== 'destroyed'; });
      like = from.name;
    }
    page(req, res, 'new', { ...(await formContext(templateName, values, [])), like });
  });

  router.post('/environments', ...post, signedIn, rule('environment.create'), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string' && k !== '_csrf') values[k] = v.trim();
    // The form's fields as a REST body: empty fields are left out, so the template's defaults apply.
    const request: Record<string, unknown> = { template: values.template ?? '' };
    for (const key of ['name', 'tag', 'seed', 'ttl']) if (values[key]) request[key] = values[key];
    const images: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) if (k.startsWith('images.') && v) images[k.slice(7)] = v;
    if (Object.keys(images).length) request.images = images;
    try {
      const seed = typeof request.seed === 'string' && NAME_PATTERN.test(request.seed) ? await deps.snapshots.savedDataset(request.seed) : undefined;
      // The tags are checked against the registry beside the validation, so the form shows every problem at once.
      const tagCheck = await checkImagesExist(tagSource, catalog, request);
      const valid = withTagProblems(tagCheck.problems, () => validateEnvironmentRequest(request, catalog, undefined, seed && seed.template === request.template ? [request.seed as string] : []));
      if (tagCheck.unchecked.length) deps.logger.warn({ unchecked: tagCheck.unchecked }, 'web form: some image tags could not be checked before queueing');
      const name = valid.name ?? `${valid.template}-${randomBytes(3).toString('hex')}`.slice(0, 63);
      const { env } = await deps.environments.deploy(req.principal!, {
        name, template: valid.template, owner: req.principal!.name, images: valid.images, seed: valid.seed, ttlSeconds: valid.ttlSeconds, door: 'web',
      }, { ttlGiven: valid.ttlGiven, createOnly: true });
      back(res, `/environments/${env.name}`, 'ok', `Environment ${env.name} requested: it is ${env.status}.`);
    } catch (err) {
      let problems: FieldProblem[];
      if (err instanceof InputError) problems = err.problems.length ? err.problems : [{ field: '(form)', message: err.message }];
      else if (err instanceof MayflyError && (err.code === 'NAME_TAKEN' || err.code === 'ENVIRONMENT_DESTROYING')) problems = [{ field: 'name', message: err.message }];
      else throw err;
      page(req, res, 'new', await formContext(values.template ?? '', values, problems), 400);
    }
  });

  // ---- an environment's page -------------------------------------------------------------------
  const byName = async (req: Request): Promise<Environment | undefined> => {
    const name = String(req.params.name);
    return NAME_PATTERN.test(name) ? store.getByName(name) : undefined;
  };
  const notFound = (req: Request, res: Response) => {
    const name = String(req.params.name ?? '');
    page(req, res, 'not-found', { title: 'No such environment', name, canCreate: NAME_PATTERN.test(name) }, 404);
  };

  router.get('/environments/:name', session, signedIn, rule('environment.view'), async (req, res) => {
    const env = await byName(req);
    if (!env) return notFound(req, res);
    const template = catalog.has(env.template) ? catalog.get(env.template) : undefined;
    // The latest rows, repeated progress lines grouped; ?events=all shows every event (grouped too).
    const all = req.query.events === 'all';
    const recent = all ? { events: await store.events(env.id), total: 0 } : await deps.overview.latestEvents(env.id, 20 * TIMELINE_ROWS);
    const events = recent.events.map(presentEvent);
    const grouped = groupTimeline(events);
    const timeline = all ? grouped : grouped.slice(-TIMELINE_ROWS);
    const shownEvents = timeline.reduce((n, r) => n + (r.group?.count ?? 1), 0);
    const totalEvents = all ? events.length : recent.total;
    const saved = (await deps.snapshots.list()).filter((s) => s.kind === 'saved' && s.status === 'ready' && s.sourceEnv === env.id)
      .map((s) => ({ dataset: s.dataset, template: s.template ?? env.template, createdBy: s.createdBy, createdAt: s.createdAt.toISOString() }));
    const services = Object.keys(env.images).map((service) => ({
      service, image: env.images[service], digest: env.digests[service] ?? null, state: null as string | null, health: null as string | null, logs: '',
    }));
    let workerProblem: string | undefined;
    if (env.status !== 'destroyed') {
      try {
        const states = await worker.services(env.id);
        for (const s of services) {
          const st = states.find((x) => x.service === s.service);
          s.state = st?.state ?? 'no container';
          s.health = st ? st.health : null;
        }
        await Promise.all(services.map(async (s) => {
          s.logs = await worker.tail(env.id, s.service, LOG_LINES).catch((err) => `(the logs of ${s.service} are unavailable: ${errorMessage(err)})`);
        }));
      } catch (err) {
        workerProblem = `Service state and logs are unavailable: ${errorMessage(err)}`;
      }
    }
    const p = present(env, await line([env]));
    // Its checkpoints and forks, and (a fork) its parent: docs/data-workflows.md.
    const checkpoints = (await deps.environments.checkpoints(req.principal!, env)).map((c) => ({
      id: c.id, reason: c.reason, status: c.status, error: c.error, createdBy: c.createdBy, createdAt: c.createdAt.toISOString(),
      pause: c.pauseMs === null ? '' : `${c.pauseMs} ms`, ready: c.status === 'ready',
    }));
    const forks = (await deps.environments.forks(req.principal!, env)).map((f) => ({ name: f.name, status: f.status, owner: f.owner }));
    const dataLive = ['ready', 'sleeping'].includes(env.status);
    // A button shows only to those the rule lets use it (anyone signed in may look at the page).
    const target = environmentTarget(env);
    const may = (action: Action) => allowed(req.principal, action, target);
    // Its bug capsules (its team's only: they hold its data and logs).
    const mayCapsule = may('capsule.view');
    const capsules = mayCapsule ? (await deps.capsuleService.list(req.principal!, env)).map((c) => ({
      id: c.id, name: c.name, note: c.note, status: c.status, error: c.error, createdBy: c.createdBy, createdAt: c.createdAt.toISOString(),
      size: c.sizeBytes === null ? '' : formatBytes(c.sizeBytes), ready: c.status === 'ready',
    })) : [];
    page(req, res, 'detail', {
      checkpoints, forks, forkOf: p.forkOf, capsules, mayCapsule, canCapsule: mayCapsule && dataLive && !!template?.database && may('capsule.take'),
      canCheckpoint: dataLive && !!template?.database && may('environment.checkpoint'),
      canRewind: ['ready', 'sleeping', 'failed'].includes(env.status) && may('environment.rewind'),
      canFork: dataLive && may('environment.fork'),
      title: env.name,
      env: { ...p, tags: tagsOf(env), expiresIn: expiresIn(env) },
      services, events, workerProblem, timeline, saved,
      // Who did what to it (the audit trail), newest first.
      audit: (await deps.audit.forEnvironment(req.principal!, env.name, 20)).map((a) => ({
        at: a.at.toISOString(), actor: a.actor, door: a.door, action: a.action.replace(/^environment\./, ''), denied: a.outcome === 'denied',
        detail: a.outcome === 'denied' ? String(a.details?.reason ?? '') : a.details?.reason ? `reason: ${String(a.details.reason)}` : a.details?.ttl ? `ttl ${String(a.details.ttl)}` : '',
      })),
      timelineInfo: { all, shown: shownEvents, total: totalEvents, hidden: Math.max(0, totalEvents - shownEvents), rows: TIMELINE_ROWS },
      canCopy: catalog.has(env.template),
      lastEventId: events.at(-1)?.id ?? 0,
      live: env.status !== 'destroyed',
      canExtend: ['queued', 'provisioning', 'ready', 'failed'].includes(env.status) && may('environment.extend'),
      canReset: !!env.seed && ['ready', 'failed'].includes(env.status) && may('environment.reset'),
      canDestroy: env.status !== 'destroyed' && env.status !== 'destroying' && may('environment.destroy'),
      canShare: env.status !== 'destroyed' && env.status !== 'destroying' && may('environment.share'),
      mayChange: may('environment.extend'),
      ttlDefault: template ? formatDuration(template.ttl.defaultSeconds) : '4h',
      ttlMax: template ? formatDuration(template.ttl.maxSeconds) : '',
    });
  });

  /** Status and timeline, live: the page's EventSource (same events as the REST stream, plus the environment). */
  router.get('/environments/:name/live', session, async (req, res, next) => {
    if (!req.principal) return res.status(401).type('text').send('sign in first');
    next();
  }, rule('environment.view'), async (req, res) => {
    const env = await byName(req);
    if (!env) return res.status(404).type('text').send('no such environment');
    const after = Number(req.get('last-event-id') ?? req.query.lastEventId ?? 0);
    await streamEvents(req, res, store, env, { afterId: Number.isSafeInteger(after) && after > 0 ? after : 0, heartbeatMs: config.web.sseHeartbeatMs, present, ...(deps.changes ? { changes: deps.changes } : {}) });
  });

  /** extend / reset data / destroy: the application service, as every door; the outcome is a flash message. */
  const action = (run: (env: Environment, req: Request) => Promise<string>) => async (req: Request, res: Response) => {
    const env = await byName(req);
    if (!env) return notFound(req, res);
    const to = typeof req.body?.back === 'string' && req.body.back === 'list' ? '/' : `/environments/${env.name}`;
    try {
      back(res, to, 'ok', await run(env, req));
    } catch (err) {
      if (!(err instanceof MayflyError) || err.status >= 500) throw err;
      const problems = err instanceof InputError ? err.problems.map((p) => `${p.field} ${p.message}`).join('; ') : '';
      back(res, to, 'error', problems || err.message);
    }
  };
  router.post('/environments/:name/extend', ...post, signedIn, rule('environment.extend'), action(async (env, req) => {
    const moved = await deps.environments.extend(req.principal!, env, (req.body as Record<string, unknown>).ttl);
    return `Extended: ${moved.name} now expires ${expiresIn(moved)}.`;
  }));
  router.post('/environments/:name/reset-data', ...post, signedIn, rule('environment.reset'), action(async (env, req) => {
    await deps.environments.reset(req.principal!, env);
    return `Resetting the data of ${env.name} to the ${env.seed} dataset.`;
  }));
  router.post('/environments/:name/checkpoint', ...post, signedIn, rule('environment.checkpoint'), action(async (env, req) => {
    const { checkpoint } = await deps.environments.checkpoint(req.principal!, env);
    return `Taking checkpoint ${checkpoint.id} of ${env.name}: its database pauses for a moment.`;
  }));
  router.post('/environments/:name/rewind', ...post, signedIn, rule('environment.rewind'), action(async (env, req) => {
    const cp = (req.body as Record<string, unknown>).checkpoint;
    await deps.environments.rewind(req.principal!, env, cp);
    return `Rewinding ${env.name} to checkpoint ${String(cp)} (its current data is checkpointed first).`;
  }));
  router.post('/environments/:name/capsule', ...post, signedIn, rule('capsule.take'), action(async (env, req) => {
    const body = req.body as Record<string, unknown>;
    const fields = { ...(typeof body.name === 'string' && body.name !== '' ? { name: body.name } : {}), ...(typeof body.note === 'string' && body.note !== '' ? { note: body.note } : {}) };
    const { capsule } = await deps.capsuleService.take(req.principal!, env, fields, deps.requestTrail?.recent(env.id) ?? []);
    return `Taking bug capsule ${capsule.id} of ${env.name} (its data, image digests, logs and last ${capsule.requests.length} requests).`;
  }));
  /** Brings a capsule up as a new environment (the name in `as`); back to the page it came from, or the new one's. */
  router.post('/capsules/:id/restore', ...post, signedIn, rule('capsule.restore'), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const from = typeof body.from === 'string' && NAME_PATTERN.test(body.from) ? `/environments/${body.from}` : '/';
    try {
      const { env: restored } = await deps.capsuleService.restore(req.principal!, typeof body.as === 'string' ? body.as.trim() : '', String(req.params.id), { door: 'web' });
      back(res, `/environments/${restored.name}`, 'ok', `Bringing bug capsule ${String(req.params.id)} up as ${restored.name}.`);
    } catch (err) {
      if (!(err instanceof MayflyError) || err.status >= 500) throw err;
      const problems = Array.isArray(err.details) ? (err.details as FieldProblem[]).map((p) => `${p.field} ${p.message}`).join('; ') : '';
      back(res, from, 'error', problems || err.message);
    }
  });
  /** The capsule's archive for a signed-in person (the API's needs a token). */
  router.get('/capsules/:id/archive', session, signedIn, rule('capsule.view'), async (req, res) => {
    const capsule = await deps.capsuleService.get(req.principal!, String(req.params.id), 'archive');
    const archive = tarGz(archiveEntries(capsule, await deps.capsuleService.dump(capsule), config.publicUrl));
    res.status(200).set({ 'Content-Type': 'application/gzip', 'Content-Disposition': `attachment; filename="${capsule.id}-${capsule.name}.tar.gz"`, 'Cache-Control': 'no-store' }).send(archive);
  });
  router.post('/environments/:name/fork', ...post, signedIn, rule('environment.fork'), action(async (env, req) => {
    const { env: fork } = await deps.environments.fork(req.principal!, env, (req.body as Record<string, unknown>).for, { door: 'web' });
    return `Forking ${env.name} as ${fork.name}.`;
  }));
  router.post('/environments/:name/destroy', ...post, signedIn, rule('environment.destroy'), action(async (env, req) => {
    await deps.environments.destroy(req.principal!, env);
    return `Destroying ${env.name}.`;
  }));

  // ---- saved datasets (api/web/datasets.ts) ----------------------------------------------------
  router.use(datasetPages(deps, { page, back, session, signedIn, post }));

  return router;
}

/** Errors on web pages: a page, not JSON (only 5xx are logged). */
export function webErrorPage(deps: Deps) {
  const views = new Views();
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (req.path.startsWith('/api/') || !(req.accepts(['json', 'html']) === 'html')) return next(err);
    const status = err instanceof MayflyError ? err.status : 500;
    if (status >= 500) deps.logger.error({ err, requestId: req.requestId, path: req.path }, 'web page failed');
    if (res.headersSent) return res.end();
    res.status(status).set('Content-Security-Policy', CSP).type('html').send(views.render('error', {
      title: 'Something went wrong', status,
      message: status < 500 ? errorMessage(err) : `Mayfly could not answer (request ${req.requestId ?? '-'}); the server log has the details.`,
    }));
  };
}
