import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

/**
 * The connection agent of one node's Engine API over tcp. A node cut off the network answers
 * nothing: without limits a call to it waits for TCP's own timeouts (minutes), and a reconciler
 * pass waiting on it never heals anything. So:
 * - a connection (and its TLS handshake) that is not up within `connectMs` fails, naming the node;
 * - no connection is kept for reuse (a kept one to a lost node would hang the next call);
 * - `abandon()` ends every call in flight to the node: the cluster calls it once the manager
 *   reports the node down, for calls that were already waiting when the node went away.
 */
export interface NodeAgent extends http.Agent {
  /** Calls to this node in flight now. */
  inFlight(): number;
  /** Ends every call in flight with an error that says why. */
  abandon(why: string): void;
}

/** Generous for a loaded host (a TLS handshake with a busy dockerd), short beside TCP's own minutes. */
export const NODE_CONNECT_TIMEOUT_MS = 10_000;

export function nodeAgent(host: string, secure: boolean, connectMs = NODE_CONNECT_TIMEOUT_MS): NodeAgent {
  const Base = secure ? https.Agent : http.Agent;
  const agent = new Base({ keepAlive: false }) as NodeAgent;
  const create = (agent as unknown as { createConnection: (...args: unknown[]) => Socket }).createConnection.bind(agent);
  (agent as unknown as { createConnection: (...args: unknown[]) => Socket }).createConnection = (...args: unknown[]) => {
    const socket = create(...args);
    const timer = setTimeout(() => {
      const err = new Error(`swarm node ${host}'s Engine API did not ${secure ? 'complete a TLS connection' : 'accept a connection'} `
        + `within ${connectMs} ms: is the node up and reachable from the worker (docker node ls; docs/swarm.md)?`);
      socket.destroy(Object.assign(err, { code: 'ETIMEDOUT' }));
    }, connectMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };
  const sockets = () => Object.values(agent.sockets).flatMap((list) => list ?? []);
  agent.inFlight = () => sockets().length;
  agent.abandon = (why: string) => {
    for (const socket of sockets()) {
      socket.destroy(Object.assign(new Error(`call to swarm node ${host} abandoned: ${why}`), { code: 'ECONNABORTED' }));
    }
  };
  return agent;
}
