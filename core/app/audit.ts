import { authorize, type Action } from './authorization.js';
import { ForbiddenError, MayflyError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import type { Logger } from '../platform/log.js';
import type { AuditEntry, AuditFilter, AuditOutcome, AuditStore } from '../store/audit.js';

/** What an audited action was about. */
export interface AuditSubject {
  id?: string;
  name: string;
}

/**
 * The audit trail: every action of the application layer (allowed, denied or failed) as one row, and
 * reading it back (admins only). A row that cannot be written does not undo the action, which
 * has committed already: it is logged as an error instead.
 */
export class AuditTrail {
  constructor(private readonly store: AuditStore, private readonly logger: Logger) {}

  async record(actor: Principal, action: Action | string, outcome: AuditOutcome, subject?: AuditSubject, details?: Record<string, unknown>): Promise<void> {
    try {
      await this.store.record({
        actor: actor.name, actorKind: actor.kind, team: actor.team, door: actor.via ?? 'api', action, outcome,
        environmentId: subject?.id ?? null, environment: subject?.name ?? null, details: details ?? null,
      });
    } catch (err) {
      this.logger.error({ err, actor: actor.name, action, outcome, environment: subject?.name },
        `could not write the audit row for ${actor.name} ${action} ${subject?.name ?? ''} (${outcome}); the action itself stands`);
    }
  }

  /**
   * Runs `work`, then records it as allowed; a refusal (403) is recorded as denied and rethrown.
   * `action` may be decided by the work's result (a PUT that created or redeployed).
   */
  async around<T>(actor: Principal, action: Action | ((result: T) => Action | undefined), subject: AuditSubject | undefined,
    details: Record<string, unknown> | undefined, work: () => Promise<T>, subjectOf?: (result: T) => AuditSubject): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (err) {
      const asked = typeof action === 'string' ? action : 'environment.redeploy';
      if (err instanceof ForbiddenError) await this.record(actor, asked, 'denied', subject, { ...details, reason: err.message });
      // Tried and refused by the environment's state or the input (409, 400, 429): recorded as failed, with why.
      else if (err instanceof MayflyError && err.status < 500) await this.record(actor, asked, 'failed', subject, { ...details, reason: err.message, code: err.code });
      throw err;
    }
    const decided = typeof action === 'string' ? action : action(result);
    if (decided) await this.record(actor, decided, 'allowed', subjectOf?.(result) ?? subject, details);
    return result;
  }

  /** The trail, newest first (admins only: `audit.read`). */
  async read(actor: Principal, filter: AuditFilter): Promise<AuditEntry[]> {
    authorize(actor, 'audit.read');
    return this.store.list(filter);
  }

  /** One environment's trail, for its page (anyone who may view the environment). */
  async forEnvironment(actor: Principal, name: string, limit = 50): Promise<AuditEntry[]> {
    authorize(actor, 'environment.view');
    return this.store.list({ environment: name, limit });
  }
}
