import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server `npm test` started (a fault test may pass a private one's admin URL). */
export const SHARED_ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';

export interface TestDatabase {
  name: string;
  /** Its connection string (the admin URL with this database's name). */
  url: string;
  /** Drops it, its sessions ended; retried, as FORCE may not end another role's session at once. */
  drop(): Promise<void>;
}

/**
 * A database of a test file's own (`<prefix>_<random>`), so test files run side by side without
 * sharing state; one left behind is dropped by scripts/clean-leftovers.sh.
 */
export async function createTestDatabase(prefix: string, adminUrl = SHARED_ADMIN_URL): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name, url: url.toString(),
    drop: () => withAdmin(adminUrl, async (admin) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          return;
        } catch (err) {
          if (attempt >= 5) { console.warn(`test database: could not drop ${name}: ${(err as Error).message}`); return; }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }),
  };
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
