import type pg from 'pg';

/** One row of the audit trail: who did what to which environment, from which door, when. */
export interface AuditEntry {
  id: number;
  at: Date;
  actor: string;
  actorKind: string;
  team: string;
  door: string;
  action: string;
  /** allowed: done; denied: refused by the rules (403); failed: tried, refused by the state (409, 400...). */
  outcome: AuditOutcome;
  environmentId: string | null;
  environment: string | null;
  details: Record<string, unknown> | null;
}

export type AuditOutcome = 'allowed' | 'denied' | 'failed';
export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditFilter {
  environment?: string;
  actor?: string;
  door?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

/** The audit trail in PostgreSQL (migration 15): appended by the application layer, read by admins. */
export class AuditStore {
  constructor(private readonly db: pg.Pool | pg.PoolClient) {}

  async record(e: NewAuditEntry): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_log (actor, actor_kind, team, door, action, outcome, environment_id, environment, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [e.actor, e.actorKind, e.team, e.door, e.action, e.outcome, e.environmentId, e.environment, e.details]);
  }

  /** Newest first. */
  async list(f: AuditFilter = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, value: unknown) => { args.push(value); where.push(sql.replace('?', `$${args.length}`)); };
    if (f.environment) add('environment = ?', f.environment);
    if (f.actor) add('actor = ?', f.actor);
    if (f.door) add('door = ?', f.door);
    if (f.since) add('at >= ?', f.since);
    if (f.until) add('at < ?', f.until);
    args.push(Math.min(Math.max(f.limit ?? 100, 1), 1000));
    const { rows } = await this.db.query(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT $${args.length}`, args);
    return rows.map((r) => ({
      id: Number(r.id), at: r.at, actor: r.actor, actorKind: r.actor_kind, team: r.team, door: r.door, action: r.action,
      outcome: r.outcome, environmentId: r.environment_id, environment: r.environment, details: r.details,
    }));
  }
}
