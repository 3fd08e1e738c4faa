import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response } from 'express';
import type { Environment } from '../core/domain/environment.js';
import type { EnvironmentStore } from '../core/store/environments.js';
import type { ChangeFeed } from '../core/store/change-feed.js';
import { presentEvent } from './presenters.js';

/** True when the client asked for server-sent events rather than JSON. */
export function wantsEventStream(req: Request): boolean {
  return (req.get('accept') ?? '').toLowerCase().includes('text/event-stream');
}

/** Where a stream resumes: the Last-Event-ID header (a reconnecting EventSource) or ?lastEventId=. */
export function lastEventId(req: Request): number {
  const raw = req.get('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : '');
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * Streams an environment's timeline as server-sent events: the events after `afterId` first,
 * then new ones as they are recorded (each `id:` is the event id, `data:` its JSON), a comment
 * line every `heartbeatMs` when idle, and `event: end` once the environment is destroyed.
 * With `present`, an `event: environment` carries the environment whenever it changes (the
 * web page's live status). Events are rows in PostgreSQL, read again at each change the feed
 * reports (without a feed, every `pollMs`).
 */
export async function streamEvents(
  req: Request, res: Response, store: EnvironmentStore, env: Environment,
  opts: { afterId: number; heartbeatMs: number; pollMs?: number; present?: (env: Environment) => unknown; changes?: ChangeFeed },
): Promise<void> {
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  let closed = false;
  res.on('close', () => { closed = true; });
  let lastWrite = Date.now();
  const write = (text: string) => { res.write(text); lastWrite = Date.now(); };
  write('retry: 2000\n\n');
  let last = opts.afterId;
  let shown = '';
  try {
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  while (!closed) {
    const tick = opts.changes?.tick;
    // The environment before its events: an event written with "destroyed" is always sent before the end.
    const current = (await store.getById(env.id)) ?? env;
    for (const e of await store.events(env.id, last)) {
      write(`id: ${e.id}\ndata: ${JSON.stringify(presentEvent(e))}\n\n`);
      last = e.id;
    }
    if (opts.present) {
      const stamp = `${current.status}|${current.updatedAt.getTime()}|${current.expiresAt.getTime()}`;
      if (stamp !== shown) { write(`event: environment\ndata: ${JSON.stringify(opts.present(current))}\n\n`); shown = stamp; }
    }
    if (current.status === 'destroyed') {
      write(`event: end\ndata: ${JSON.stringify({ status: current.status, destroyReason: current.destroyReason, destroyedBy: current.destroyedBy })}\n\n`);
      break;
    }
    if (Date.now() - lastWrite >= opts.heartbeatMs) write(': heartbeat\n\n');
    // Woken by the change feed at the next committed change (or for the heartbeat); without one, it polls.
    if (opts.changes) await opts.changes.next(Math.max(50, opts.heartbeatMs - (Date.now() - lastWrite)), { since: tick, signal: gone.signal });
    else await sleep(opts.pollMs ?? 500);
  }
  } finally {
    res.end();
  }
}
