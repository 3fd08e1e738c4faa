/**
 * The warm pool's rules (templates' `pool: { size: N }`): which request may take a standby, and
 * what makes a standby current. The worker keeps the pool filled (worker/jobs/pool.ts); a
 * request takes a standby here, in the transaction that creates its environment.
 *
 * A standby is a stack of the template with its default seed and default images, started and
 * healthy, whose Docker objects are labeled with an id reserved for the environment that claims
 * it: the claimant gets that id and the standby's project, so its objects carry the claimant's
 * id from the start. Its provisioning then converges as a redeploy does: containers whose
 * configuration is the same (the database, its seed already cloned) are kept; those that
 * differ (another image, or anything rendered from the name, such as an environment variable)
 * are replaced. Nothing of the standby's own name survives a claim.
 */
import { createHash } from 'node:crypto';
import type { Template } from '../catalog/templates.js';
import type { ClaimedStandby, PoolStore } from '../store/warm-pool.js';

/** What a standby was made from: a changed template (its stack, images, seeds, database) makes it stale. */
export function templateHash(t: Template): string {
  return createHash('sha256')
    .update(JSON.stringify({ source: t.source, images: t.images, seeds: t.seeds, database: t.database ?? null, entry: t.entryService }))
    .digest('hex').slice(0, 16);
}

/** The project (compose project, object name prefix) of a standby: the template and the reserved id, no name. */
export const standbyProject = (template: string, id: string) => `${template}-${id.slice(0, 8)}`;

/**
 * Inside the transaction that creates a new environment: a current standby for it, or undefined
 * (the template keeps no pool, or asks another seed, or none is ready: a miss, counted).
 */
export async function claimStandby(pool: PoolStore, template: Template, seed: string | null): Promise<ClaimedStandby | undefined> {
  if (!template.pool.size) return undefined;
  if ((seed ?? null) !== template.seeds.default) return undefined;
  return pool.claim(template.name, seed ?? null, templateHash(template));
}
