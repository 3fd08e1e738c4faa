import { Router } from 'express';
import { NAME_PATTERN } from '../../core/domain/environment.js';
import { InputError, type FieldProblem } from '../../core/domain/errors.js';
import { VIAS } from '../../core/domain/principal.js';
import type { AuditFilter } from '../../core/store/audit.js';
import type { ApiDeps } from '../deps.js';
import { rule } from '../access.js';

/** What this module uses of the web process (narrow: a test gives it only these). */
type Deps = Pick<ApiDeps, 'audit'>;

/** GET /api/v1/audit: the audit trail, newest first, for admins (filters: environment, actor, door, since, until, limit). */
export function auditRouter(deps: Deps): Router {
  const router = Router();
  router.get('/', rule('audit.read'), async (req, res) => {
    const filter = parseAuditQuery(req.query as Record<string, unknown>);
    const entries = await deps.audit.read(req.principal!, filter);
    res.json({
      entries: entries.map((e) => ({
        id: e.id, at: e.at.toISOString(), actor: e.actor, actorKind: e.actorKind, team: e.team, door: e.door, action: e.action,
        outcome: e.outcome, environment: e.environment, environmentId: e.environmentId, details: e.details ?? {},
      })),
    });
  });
  return router;
}

const ALLOWED = ['environment', 'actor', 'door', 'since', 'until', 'limit'];

/** The query of GET /api/v1/audit, each field checked; every problem reported at once. */
export function parseAuditQuery(q: Record<string, unknown>): AuditFilter {
  const problems: FieldProblem[] = [];
  const filter: AuditFilter = {};
  for (const key of Object.keys(q)) if (!ALLOWED.includes(key)) problems.push({ field: key, message: `unknown filter; allowed: ${ALLOWED.join(', ')}` });
  const text = (key: string): string | undefined => {
    const v = q[key];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') { problems.push({ field: key, message: 'must be given once' }); return undefined; }
    return v;
  };
  const environment = text('environment');
  if (environment !== undefined) {
    if (NAME_PATTERN.test(environment)) filter.environment = environment;
    else problems.push({ field: 'environment', message: 'must be an environment name: 1-63 lowercase letters, digits and "-"' });
  }
  const actor = text('actor');
  if (actor !== undefined) {
    if (actor.length <= 200) filter.actor = actor;
    else problems.push({ field: 'actor', message: 'must be at most 200 characters' });
  }
  const door = text('door');
  if (door !== undefined) {
    if ((VIAS as readonly string[]).includes(door)) filter.door = door;
    else problems.push({ field: 'door', message: `must be one of ${VIAS.join(', ')}` });
  }
  for (const key of ['since', 'until'] as const) {
    const v = text(key);
    if (v === undefined) continue;
    const at = new Date(v);
    if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(at.getTime())) filter[key] = at;
    else problems.push({ field: key, message: 'must be an ISO 8601 time such as 2026-12-01T10:00:00Z' });
  }
  const limit = text('limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (Number.isInteger(n) && n >= 1 && n <= 1000) filter.limit = n;
    else problems.push({ field: 'limit', message: 'must be a whole number from 1 to 1000' });
  }
  if (problems.length) throw new InputError(`invalid query: ${problems.map((p) => p.field).join(', ')}`, problems);
  return filter;
}
