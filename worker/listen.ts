/**
 * Ports of a worker's own servers (internal endpoint, /metrics) when several workers run on one
 * host, as a Procfile with `worker` scaled up starts them: all with the same defaults. A port
 * that is only the default (its variable unset) and taken by another worker gives way to the next
 * free one, then to any free one; a port the operator chose is used or fails, as set.
 */

/** Ports tried after the default before any free port is taken: 9465, 9466, ... stay scrapeable. */
export const NEXT_PORTS = 10;

function inUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'EADDRINUSE';
}

/**
 * Calls `listen` with `port`; when the port is in use and `fallback` is true, with the next ports,
 * then with 0 (any free port). Any other error, or a taken port without `fallback`, is thrown.
 */
export async function listenWithFallback<T>(port: number, fallback: boolean, listen: (port: number) => Promise<T>): Promise<T> {
  const ports = fallback && port > 0
    ? [...Array.from({ length: NEXT_PORTS + 1 }, (_, i) => port + i).filter((p) => p <= 65535), 0]
    : [port];
  let last: unknown;
  for (const p of ports) {
    try {
      return await listen(p);
    } catch (err) {
      if (!inUse(err)) throw err;
      last = err;
    }
  }
  throw last;
}
