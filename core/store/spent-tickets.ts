import type pg from 'pg';

/**
 * One-time sign-in tickets already redeemed (core/app/previews.ts), in PostgreSQL so that every
 * web process behind a load balancer refuses a ticket another one took. Rows live until the
 * ticket would have expired anyway (a minute); expired rows go on the next spend.
 */
export class SpentTicketStore {
  constructor(private readonly pool: pg.Pool) {}

  async spend(id: string, until: Date): Promise<boolean> {
    await this.pool.query('DELETE FROM spent_tickets WHERE expires_at < now()');
    const { rowCount } = await this.pool.query('INSERT INTO spent_tickets (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, until]);
    return rowCount === 1;
  }
}
