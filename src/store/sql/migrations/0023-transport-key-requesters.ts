/**
 * Which peer principal asked for each transport key (`requester_arn`), so that PrepareReplica
 * counts a peer's waiting transport keys against its own share of the region's (one peer could
 * otherwise fill them all). Keys made before this migration have none and count only against the
 * region's total; they expire within ten minutes.
 */
import type { Kysely, Migration } from 'kysely';

export function transportKeyRequestersSchema(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('transport_keys').addColumn('requester_arn', 'varchar(2048)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('transport_keys').dropColumn('requester_arn').execute();
    },
  };
}
