import Docker from 'dockerode';

/** The one place that constructs dockerode: DOCKER_HOST as dockerode takes it (unix:///path or tcp://host:port), else its default. */
export function dockerClient(host: string | undefined): Docker {
  if (!host) return new Docker();
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

/** Rejects with what to do when the engine does not answer. */
export async function pingDocker(docker: Docker, host: string | undefined): Promise<void> {
  await docker.ping().catch((err: Error) => {
    throw new Error(`the Docker Engine does not answer (${host ?? '/var/run/docker.sock'}): ${err.message}; run npm run setup`);
  });
}
