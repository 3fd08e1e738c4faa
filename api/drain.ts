import type { Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Stopping an HTTP server without cutting work: `drain()` stops accepting connections, closes
 * idle keep-alive ones, ends event streams and `?wait=` requests at once (their clients resume:
 * EventSource reconnects with Last-Event-ID, a wait is repeated, PUT is idempotent), and resolves
 * when every other request has been answered. The caller bounds it (core/platform/shutdown.ts).
 */
export function drainable(server: Server): { drain: () => Promise<void> } {
  const open = new Map<ServerResponse, boolean>(); // response -> resumable
  server.on('request', (req, res) => {
    const resumable = (req.headers.accept ?? '').includes('text/event-stream') || /[?&]wait=/.test(req.url ?? '');
    open.set(res, resumable);
    res.once('close', () => open.delete(res));
  });
  const work = () => [...open.values()].filter((resumable) => !resumable).length;
  return {
    async drain() {
      server.close();
      server.closeIdleConnections();
      for (const [res, resumable] of open) if (resumable) res.socket?.destroy();
      while (work() > 0) await sleep(50);
      server.closeAllConnections();
    },
  };
}
