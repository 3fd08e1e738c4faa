/**
 * Every label and object name Mayfly gives to what it creates in a container engine, in one
 * place. Pure: the runtime (worker/runtime/) names and labels objects by these; tests and the
 * reaper find them by the same labels. Compose's own conventions are followed, so that
 * `docker compose -p <project> ps` understands a stack Mayfly started.
 */

/** On every object of an environment: its id. Teardown and the orphan reaper work from it. */
export const LABEL_ENV = 'mayfly.env';
/** On every object: the installation (MAYFLY_INSTANCE). The reaper only looks at its own. */
export const LABEL_INSTANCE = 'mayfly.instance';
/** The environment generation an object was made for. */
export const LABEL_GENERATION = 'mayfly.generation';
/** On a container: the hash of its Engine API body; an unchanged one is kept on a redeploy. */
export const LABEL_CONFIG_HASH = 'mayfly.config-hash';
/** On a golden snapshot volume: its key. */
export const LABEL_GOLDEN = 'mayfly.golden';
/** On a clone: the key of the golden it came from. On a saved dataset's golden: its key. */
export const LABEL_SNAPSHOT = 'mayfly.snapshot';
/** On a saved dataset's golden volume: the dataset's name. */
export const LABEL_DATASET = 'mayfly.dataset';
/**
 * What a volume is to its environment: 'data' (a service's data, the tester's) or
 * 'overlay-layer' (the writable layer beneath an overlay clone, which only exists for that clone).
 */
export const LABEL_ROLE = 'mayfly.role';
export const ROLE_DATA = 'data';
export const ROLE_OVERLAY_LAYER = 'overlay-layer';
/** A checkpoint of the environment's database (docs/data-workflows.md): kept with its data, removed with it. */
export const ROLE_CHECKPOINT = 'checkpoint';
/**
 * A bug capsule's copy of a database (docs/data-workflows.md#bug-capsules): not labeled for the
 * environment (it outlives it; the reaper leaves it alone); removed when the capsule is deleted.
 */
export const ROLE_CAPSULE = 'capsule';
/** On a short-lived helper container (clones, measurements): what it does. */
export const LABEL_HELPER = 'mayfly.helper';
/** On a golden snapshot's throwaway database container: the golden's key. */
export const LABEL_GOLDEN_BUILD = 'mayfly.golden-build';
/** On the clone-strategy probe's scratch volumes. */
export const LABEL_PROBE = 'mayfly.probe';

/** Compose's labels. */
export const LABEL_COMPOSE_PROJECT = 'com.docker.compose.project';
export const LABEL_COMPOSE_SERVICE = 'com.docker.compose.service';
export const LABEL_COMPOSE_VOLUME = 'com.docker.compose.volume';
export const LABEL_COMPOSE_NETWORK = 'com.docker.compose.network';
export const LABEL_COMPOSE_CONTAINER_NUMBER = 'com.docker.compose.container-number';
export const LABEL_COMPOSE_ONEOFF = 'com.docker.compose.oneoff';

/** The compose project name of an environment: readable, and unique even when a name is reused. */
export const projectName = (name: string, id: string) => `${name}-${id.slice(0, 8)}`;
/** Compose's object names within a project. */
export const networkName = (project: string) => `${project}_default`;
export const volumeName = (project: string, volume: string) => `${project}_${volume}`;
export const containerName = (project: string, service: string) => `${project}-${service}-1`;

/** The volume of an environment's checkpoint `id` (cp-xxxxxxxx), in its compose project. */
export const checkpointVolume = (project: string, id: string) => `${project}_${id}`;

/** The volume of bug capsule `id` (cap-xxxxxxxx), per installation like a golden. */
export const capsuleVolume = (instance: string, id: string) => `mayfly-capsule-${instance}-${id}`;

/** The writable layer beneath an overlay clone named `volume`. */
export const upperVolume = (volume: string) => `${volume}-upper`;
/** Golden volumes are per installation: two instances on one engine never share (or rebuild) one. */
export const goldenVolume = (instance: string, key: string) => `mayfly-golden-${instance}-${key.slice(0, 16)}`;
/** The throwaway database container that builds a golden, per instance (a leftover one of that name goes first). */
export const goldenBuildContainer = (instance: string, key: string) => `mayfly-golden-build-${instance}-${key.slice(0, 16)}`;
/** A clone-strategy probe's scratch volume (`part`: a, b, u, o). */
export const probeVolume = (probeId: string, part: string) => `mayfly-probe-${probeId}-${part}`;
