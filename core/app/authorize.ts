import type { Environment } from '../domain/environment.js';
import { ForbiddenError } from '../domain/errors.js';
import { mayManage, type Principal } from '../domain/principal.js';

/**
 * Throws 403 FORBIDDEN when `principal` may not change `env`: only admins (MAYFLY_ADMINS) and
 * members of the environment's team (MAYFLY_TEAMS) may extend, reset, destroy or redeploy it.
 */
export function assertMayManage(principal: Principal, env: Pick<Environment, 'name' | 'team'>): void {
  if (mayManage(principal, env.team)) return;
  throw new ForbiddenError(
    `environment "${env.name}" belongs to team "${env.team}"; ${principal.name} (team "${principal.team}") may not change it`,
    { environment: env.name, team: env.team, principal: principal.name, principalTeam: principal.team },
  );
}

