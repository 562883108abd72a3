/**
 * Replication jobs get the end of the lease their runner holds (`leased_until`, null when no
 * runner has the job): a job asked for again while it runs waits for that run to end instead of
 * being due at once, which let a second runner take it and run it beside the first.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function replicationJobLeasesSchema(flavor: SqlFlavor): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('replication_jobs').addColumn('leased_until', flavor.bigintType).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('replication_jobs').dropColumn('leased_until').execute();
    },
  };
}
