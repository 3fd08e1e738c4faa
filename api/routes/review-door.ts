import { ConflictError, UnavailableError } from '../../core/domain/errors.js';
import { principalFor, systemActor } from '../../core/domain/principal.js';
import type { DestroyReason, Environment } from '../../core/domain/environment.js';
import { assertOrigin } from '../../core/app/environments.js';
import { validateEnvironmentRequest } from '../../core/doors/requests.js';
import type { ApiDeps } from '../deps.js';

/**
 * The lifecycle shared by the doors of code review (GitHub pull requests, GitLab merge
 * requests): opened or pushed to deploys `<template>-<pr|mr>-<n>` through EnvironmentService as
 * the author (in the author's team), closed destroys it; both only for environments whose origin
 * is that pull or merge request (another repository's is left alone).
 */
type Deps = Pick<ApiDeps, 'catalog' | 'config' | 'environments' | 'store'>;

/** A code host gives a webhook ten seconds: a teardown in progress is waited for a little less. */
const DESTROYING_WAIT_MS = 7000;

export interface DoorOutcome { status: number; outcome: string; environment?: string; message?: string }

const leftAlone = (name: string, err: ConflictError): DoorOutcome => ({ status: 200, outcome: 'left-alone', environment: name, message: err.message });

/** Closed (merged or not): destroys the environment with `reason`, if it is this origin's and live. */
export async function closeReview(deps: Deps, r: { name: string; origin: string; by: string; door: 'github' | 'gitlab'; reason: DestroyReason }): Promise<DoorOutcome> {
  const env = await deps.store.getByName(r.name);
  if (!env || env.status === 'destroyed' || env.status === 'destroying') return { status: 200, outcome: 'nothing-to-destroy', environment: r.name };
  try {
    assertOrigin(env, r.origin);
  } catch (err) {
    if (err instanceof ConflictError) return leftAlone(r.name, err);
    throw err;
  }
  await deps.environments.destroy(systemActor(r.by, env.team, r.door), env, r.reason);
  return { status: 202, outcome: 'destroying', environment: r.name };
}

/** Opened, reopened or pushed to (`force`: a new commit is redeployed): creates or redeploys the environment. */
export async function deployReview(deps: Deps, r: { name: string; template: string; tag: string; author: string; door: 'github' | 'gitlab'; origin: string; force: boolean }):
  Promise<{ env: Environment; action: string } | DoorOutcome> {
  const valid = validateEnvironmentRequest({ template: r.template, tag: r.tag }, deps.catalog, r.name);
  try {
    // The webhook is signed by the repository, not a person: its environments belong to the
    // team of the author when MAYFLY_TEAMS names <door>:<login>.
    const team = principalFor(deps.config.teams, r.author, 'user').team;
    return await deps.environments.deploy(systemActor(r.author, team, r.door), {
      name: r.name, template: valid.template, owner: r.author,
      images: valid.images, seed: valid.seed, ttlSeconds: valid.ttlSeconds, door: r.door, team,
    }, { ttlGiven: false, forceRedeploy: r.force, waitDestroyingMs: DESTROYING_WAIT_MS, origin: r.origin });
  } catch (err) {
    if (err instanceof ConflictError && err.code === 'NOT_THIS_ORIGIN') return leftAlone(r.name, err);
    if (err instanceof ConflictError && err.code === 'ENVIRONMENT_DESTROYING') {
      throw new UnavailableError(`${r.name} is still being torn down; redeliver this webhook in a minute`);
    }
    throw err;
  }
}
