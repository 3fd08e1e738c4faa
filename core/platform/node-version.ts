/**
 * Which Node.js runs Mayfly. The web, the worker and the tests run on an LTS line that is
 * maintained (22 or 24; scripts/node.sh installs 24 into the project when the machine has
 * neither). The CLI (bin/mayfly.js, cli/) only needs Node 20's global fetch, so CI images on
 * node:20 can still run it.
 */
export const SUPPORTED_SERVER_MAJORS = [22, 24] as const;
export const MIN_CLI_MAJOR = 20;

/** A warning for a web or worker process started on an unsupported Node.js; undefined when it is supported. */
export function unsupportedServerNode(version: string = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0]);
  if ((SUPPORTED_SERVER_MAJORS as readonly number[]).includes(major)) return undefined;
  return `Node.js ${version} is not a supported runtime for Mayfly's web and worker (supported: ${SUPPORTED_SERVER_MAJORS.join(' or ')} LTS);` +
    ' `bash scripts/node.sh` prints the path of one (installing Node.js 24 into .mayfly/node when the machine has none)';
}
