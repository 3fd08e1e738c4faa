import type { Access } from '../domain/environment.js';
import { ForbiddenError } from '../domain/errors.js';
import { mayManage, type Principal } from '../domain/principal.js';

/**
 * Who may do what: one rule per action, applied by the application layer for every door (REST,
 * the web pages, Slack, GitHub, the CLI through REST). A door turns its caller into a Principal;
 * only this module decides.
 *
 * - `signed-in`: any principal (a valid token, a signed-in person, a verified Slack or GitHub request);
 * - `team`: an admin, a member of the resource's team, or Mayfly itself (kind `system`);
 * - `admin`: admins (MAYFLY_ADMINS) and Mayfly itself;
 * - `access`: as the environment's access setting says (opening its address through the router):
 *   `public` anyone, anonymous too; `signed-in` any principal; `team` its team and admins. The
 *   holder of a share link (kind `share`) may open that one environment, whatever its setting,
 *   and nothing else.
 */
export const RULES = {
  'environment.list': 'signed-in',
  'environment.view': 'signed-in',
  'environment.create': 'signed-in',
  'environment.redeploy': 'team',
  'environment.extend': 'team',
  'environment.reset': 'team',
  'environment.destroy': 'team',
  'environment.snapshot': 'team',
  /** Checkpoints and rewind change (or pause) the environment's database: its team. */
  'environment.checkpoint': 'team',
  'environment.rewind': 'team',
  /** A fork copies the environment's data (a tester's own copy): its team. */
  'environment.fork': 'team',
  /**
   * Bug capsules hold a copy of the environment's data and its logs: its team takes, sees, deletes
   * and restores them (also after the environment is gone: the capsule keeps the team).
   */
  'capsule.take': 'team',
  'capsule.view': 'team',
  'capsule.delete': 'team',
  'capsule.restore': 'team',
  'template.list': 'signed-in',
  'overview.view': 'signed-in',
  'environment.open': 'access',
  'environment.share': 'team',
  'seed.list': 'signed-in',
  'seed.refresh': 'signed-in',
  /** A saved dataset: its owner's team (the owner is in it) or an admin. */
  'seed.delete': 'team',
  'admin.queues': 'admin',
  'audit.read': 'admin',
} as const satisfies Record<string, Rule>;

export type Rule = 'signed-in' | 'team' | 'admin' | 'access';
export type Action = keyof typeof RULES;

/** What an action is about: an environment (or a saved dataset) of a team. */
export interface Target {
  /** What the refusal names, e.g. `environment "shop-pr-1"`. */
  label: string;
  team: string;
  /** Extra details for the refusal (e.g. `{ environment: name }`). */
  details?: Record<string, unknown>;
  /** The environment's id: a share link opens only the environment it was made for. */
  id?: string;
  /** Who may open it (the `access` rule); absent: signed-in. */
  access?: Access;
}

/**
 * Whether `principal` may do `action` (to `target`, for the team and access rules). Undefined is
 * nobody signed in: only a public environment's address is open to it.
 */
export function allowed(principal: Principal | undefined, action: Action, target?: Target): boolean {
  const rule: Rule = RULES[action];
  if (rule === 'access' && target?.access === 'public') return true;
  if (!principal) return false;
  // A share link's holder opens the one environment it was made for, and does nothing else.
  if (principal.kind === 'share') return rule === 'access' && !!target?.id && target.id === principal.environmentId;
  if (principal.kind === 'system') return true;
  switch (rule) {
    case 'signed-in': return true;
    case 'admin': return principal.admin;
    case 'team': return target ? mayManage(principal, target.team) : principal.admin;
    case 'access': return target?.access === 'team' ? mayManage(principal, target.team) : true;
  }
}

/** Throws 403 FORBIDDEN, naming who asked and whose it is, when `principal` may not do `action`. */
export function authorize(principal: Principal, action: Action, target?: Target): void {
  if (allowed(principal, action, target)) return;
  if (RULES[action] === 'admin' || !target) {
    throw new ForbiddenError(`${principal.name} may not ${action.replace('.', ' ')}: admins only (MAYFLY_ADMINS)`, { action, principal: principal.name });
  }
  throw new ForbiddenError(
    `${target.label} belongs to team "${target.team}"; ${principal.name} (team "${principal.team}") may not ${RULES[action] === 'access' ? 'open' : action === 'environment.share' ? 'share' : action === 'capsule.view' ? 'see' : action === 'capsule.restore' ? 'restore' : 'change'} it`,
    { ...target.details, team: target.team, principal: principal.name, principalTeam: principal.team, action },
  );
}

/** The target of an action on an environment (with `access`, for opening its address). */
export function environmentTarget(env: { name: string; team: string; id?: string }, access?: Access): Target {
  return { label: `environment "${env.name}"`, team: env.team, details: { environment: env.name }, ...(env.id ? { id: env.id } : {}), ...(access ? { access } : {}) };
}

/** The target of an action on a bug capsule: the team of the environment it was taken of. */
export function capsuleTarget(capsule: { id: string; name: string; team: string; environment: string }): Target {
  return { label: `bug capsule "${capsule.id}" (${capsule.name}, of environment "${capsule.environment}")`, team: capsule.team, details: { capsule: capsule.id, environment: capsule.environment } };
}

/** The target of an action on a saved dataset: the team it was saved by. */
export function datasetTarget(dataset: { name: string; team: string }): Target {
  return { label: `saved dataset "${dataset.name}"`, team: dataset.team, details: { dataset: dataset.name } };
}
