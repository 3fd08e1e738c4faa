/**
 * Who is asking: a bearer token (CI, the CLI, Slack's configured identity) or a person signed in
 * through the web pages (a proxy header or a token exchanged for a session). Every door turns its
 * caller into a Principal; authorization decisions read only this.
 */
export interface Principal {
  /** The token's or the user's name: recorded as the owner of what it creates. */
  name: string;
  /**
   * `system`: Mayfly itself (the lease's end, the reconciler, a door acting for a repository);
   * `share`: whoever holds a share link, who may open that one environment's address and nothing else.
   */
  kind: 'token' | 'user' | 'system' | 'share';
  /** The team the name belongs to (MAYFLY_TEAMS); `default` when it is in none. */
  team: string;
  /** Admins (MAYFLY_ADMINS) may act on every team's environments and see /admin pages. */
  admin: boolean;
  /** The door the request came through, for the audit trail (default `api`). */
  via?: Via;
  /** For kind `share`: the id of the one environment the link opens. */
  environmentId?: string;
}

/** Doors a principal acts through: REST (`api`), the CLI, the web pages, Slack, GitHub, or Mayfly itself. */
export const VIAS = ['api', 'cli', 'web', 'slack', 'github', 'gitlab', 'system'] as const;
export type Via = (typeof VIAS)[number];

/** Team membership and admins, parsed from MAYFLY_TEAMS and MAYFLY_ADMINS. */
export interface TeamDirectory {
  /** Name (token name, user name or e-mail) -> team. */
  readonly members: ReadonlyMap<string, string>;
  readonly admins: ReadonlySet<string>;
}

export const DEFAULT_TEAM = 'default';

/** Whether `principal` may change (extend, reset, destroy, redeploy) an environment of `team`. */
export function mayManage(principal: Principal, team: string): boolean {
  return principal.admin || principal.team === team;
}

export function principalFor(directory: TeamDirectory, name: string, kind: Principal['kind'], via?: Via): Principal {
  return { name, kind, team: directory.members.get(name) ?? DEFAULT_TEAM, admin: directory.admins.has(name), ...(via ? { via } : {}) };
}

/**
 * Mayfly acting on its own (the lease's end, the reconciler) or a door acting for a repository
 * (a pull request closed): recorded under `name`, allowed what the door's own rules allow.
 */
export function systemActor(name: string, team = DEFAULT_TEAM, via: Via = 'system'): Principal {
  return { name, kind: 'system', team, admin: false, via };
}
