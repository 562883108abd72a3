/**
 * What an approver needs to check an approval request against the call it would allow: the key
 * ARNs its hash binds (`hashed_keys`, comma-separated as call-hash.ts hashes them: a call on two
 * keys binds both, `key_arn` names only the first) and the parameters the hash covers that the
 * request shows cut short or not at all (`withheld_parameters`, a JSON array of member names:
 * secrets, binary values, long ones). Requests opened before this migration have neither.
 */
import type { Kysely, Migration } from 'kysely';

export function approvalRequestCoverageSchema(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('approval_requests').addColumn('hashed_keys', 'text').execute();
      await db.schema.alterTable('approval_requests').addColumn('withheld_parameters', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('approval_requests').dropColumn('withheld_parameters').execute();
      await db.schema.alterTable('approval_requests').dropColumn('hashed_keys').execute();
    },
  };
}
