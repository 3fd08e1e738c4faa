import { Router, type Request } from 'express';
import { CapsuleRequest, PathCapsuleId, PathEnvironmentName } from '../../core/api/schemas.js';
import { inputError, parseParam, unknownFields } from '../../core/api/validate.js';
import type { Capsule } from '../../core/store/capsules.js';
import type { CapsuleService } from '../../core/app/capsules.js';
import type { ApiDeps } from '../deps.js';
import { presentCapsule, presentCapsuleSummary } from '../presenters.js';
import { rule } from '../access.js';
import { tarGz } from '../tar.js';
import type { RequestTrail } from '../router/trail.js';

type Deps = Pick<ApiDeps, 'config' | 'environments'> & { capsuleService: CapsuleService; requestTrail?: RequestTrail };

/**
 * Bug capsules (docs/data-workflows.md#bug-capsules): taken and listed under their environment,
 * shown, downloaded and deleted by id (a capsule outlives its environment, so its own address
 * does not go through it). Restoring one is a PUT or POST of an environment with `capsule`
 * (api/routes/environments.ts).
 */
export function capsulesRouter(deps: Deps): Router {
  const { config, environments, capsuleService } = deps;
  const router = Router();
  const envName = (req: Request) => parseParam(PathEnvironmentName, 'name', String(req.params.name), 'invalid environment name');
  const capsuleId = (req: Request) => parseParam(PathCapsuleId, 'id', String(req.params.id), 'invalid bug capsule id');

  router.get('/environments/:name/capsules', rule('capsule.view'), async (req, res) => {
    const env = await environments.find(envName(req));
    const list = await capsuleService.list(req.principal!, env);
    res.json({ environment: env.name, limit: config.dataWorkflows.capsulesPerTeam, capsules: list.map((c) => presentCapsuleSummary(c, config.publicUrl)) });
  });

  router.post('/environments/:name/capsules', rule('capsule.take'), async (req, res) => {
    const env = await environments.find(envName(req));
    const body = (req.body ?? {}) as Record<string, unknown>;
    const unknown = unknownFields(CapsuleRequest, body);
    if (unknown.length) throw inputError(unknown);
    // The trail is in this process (the router's ring): captured now, with the request. The worker
    // takes the database copy, logs and timeline when it runs the job.
    const trail = deps.requestTrail?.recent(env.id) ?? [];
    const { capsule, delivery } = await capsuleService.take(req.principal!, env, body, trail);
    res.status(202).setHeader('Location', `${config.publicUrl}/api/v1/capsules/${capsule.id}`);
    res.json({ ...presentCapsule(capsule, config.publicUrl), delivery });
  });

  router.get('/capsules/:id', rule('capsule.view'), async (req, res) => {
    res.json(presentCapsule(await capsuleService.get(req.principal!, capsuleId(req)), config.publicUrl));
  });

  /** One .tar.gz to attach to a bug report: manifest, stack, timeline, logs, requests and the SQL dump. */
  router.get('/capsules/:id/archive', rule('capsule.view'), async (req, res) => {
    const capsule = await capsuleService.get(req.principal!, capsuleId(req), 'archive');
    const dump = await capsuleService.dump(capsule);
    const archive = tarGz(archiveEntries(capsule, dump, config.publicUrl));
    res.status(200).set({
      'Content-Type': 'application/gzip',
      'Content-Disposition': `attachment; filename="${capsule.id}-${capsule.name}.tar.gz"`,
      'Cache-Control': 'no-store',
    }).send(archive);
  });

  router.delete('/capsules/:id', rule('capsule.delete'), async (req, res) => {
    const capsule = await capsuleService.remove(req.principal!, capsuleId(req));
    res.status(202).json(presentCapsuleSummary(capsule, config.publicUrl));
  });

  return router;
}

/** The archive's files (docs/data-workflows.md#the-archive). */
export function archiveEntries(capsule: Capsule, dump: Buffer | null, publicUrl: string) {
  const at = capsule.readyAt ?? capsule.createdAt;
  const logs = Object.entries(capsule.logs ?? {}).map(([service, text]) => ({ name: `logs/${service}.log`, data: text, mtime: at }));
  const manifest = {
    ...presentCapsuleSummary(capsule, publicUrl),
    files: ['manifest.json', 'stack.yml', 'timeline.json', 'requests.json', ...logs.map((l) => l.name), ...(dump ? ['database.sql.gz'] : [])],
    restore: `PUT ${publicUrl}/api/v1/environments/<new-name> {"capsule": "${capsule.id}"}  (or: mayfly deploy <new-name> --capsule ${capsule.id})`,
  };
  return [
    { name: 'manifest.json', data: `${JSON.stringify(manifest, null, 2)}\n`, mtime: at },
    { name: 'stack.yml', data: capsule.stack ?? '# not recorded (the capsule is not ready)\n', mtime: at },
    { name: 'timeline.json', data: `${JSON.stringify(capsule.timeline ?? [], null, 2)}\n`, mtime: at },
    { name: 'requests.json', data: `${JSON.stringify(capsule.requests, null, 2)}\n`, mtime: at },
    ...logs,
    ...(dump ? [{ name: 'database.sql.gz', data: dump, mtime: at }] : []),
  ];
}
