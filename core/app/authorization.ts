import { ForbiddenError } from '../domain/errors.js';
import { mayManage, type Principal } from '../domain/principal.js';

/**
 * Who may do what: one rule per action, applied by the application layer for every door (REST,
 * the web pages, Slack, GitHub, the CLI through REST). A door turns its caller into a Principal;
 * only this module decides.
 *
 * - `signed-in`: any principal (a valid token, a signed-in person, a verified Slack or GitHub request);
 * - `team`: an admin, a member of the resource's team, or Mayfly itself (kind `system`);
 * - `admin`: admins (MAYFLY_ADMINS) and Mayfly itself.
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
  'template.list': 'signed-in',
  'seed.list': 'signed-in',
  'seed.refresh': 'signed-in',
  /** A saved dataset: its owner's team (the owner is in it) or an admin. */
  'seed.delete': 'team',
  'admin.queues': 'admin',
  'audit.read': 'admin',
} as const satisfies Record<string, Rule>;

export type Rule = 'signed-in' | 'team' | 'admin';
export type Action = keyof typeof RULES;

/** What an action is about: an environment (or a saved dataset) of a team. */
export interface Target {
  /** What the refusal names, e.g. `environment "shop-pr-1"`. */
  label: string;
  team: string;
  /** Extra details for the refusal (e.g. `{ environment: name }`). */
  details?: Record<string, unknown>;
}

/** Whether `principal` may do `action` (to `target`, for the team rule). */
export function allowed(principal: Principal, action: Action, target?: Target): boolean {
  const rule: Rule = RULES[action];
  if (principal.kind === 'system') return true;
  switch (rule) {
    case 'signed-in': return true;
    case 'admin': return principal.admin;
    case 'team': return target ? mayManage(principal, target.team) : principal.admin;
  }
}

/** Throws 403 FORBIDDEN, naming who asked and whose it is, when `principal` may not do `action`. */
export function authorize(principal: Principal, action: Action, target?: Target): void {
  if (allowed(principal, action, target)) return;
  if (RULES[action] === 'admin' || !target) {
    throw new ForbiddenError(`${principal.name} may not ${action.replace('.', ' ')}: admins only (MAYFLY_ADMINS)`, { action, principal: principal.name });
  }
  throw new ForbiddenError(
    `${target.label} belongs to team "${target.team}"; ${principal.name} (team "${principal.team}") may not change it`,
    { ...target.details, team: target.team, principal: principal.name, principalTeam: principal.team, action },
  );
}

/** The target of an action on an environment. */
export function environmentTarget(env: { name: string; team: string }): Target {
  return { label: `environment "${env.name}"`, team: env.team, details: { environment: env.name } };
}

/** The target of an action on a saved dataset: the team it was saved by. */
export function datasetTarget(dataset: { name: string; team: string }): Target {
  return { label: `saved dataset "${dataset.name}"`, team: dataset.team, details: { dataset: dataset.name } };
}
