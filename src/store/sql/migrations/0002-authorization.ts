/**
 * Authorization: each key's owner (the CloudHSM owner: the principal that created it), named
 * IAM identity policies on principals, and principal tags (`aws:PrincipalTag/…`).
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function authorizationSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // No foreign key: deleting a principal clears the column instead (see deletePrincipal).
      await db.schema.alterTable('keys').addColumn('owner_arn', 'varchar(2048)').execute();
      // `principal get` counts a principal's keys; deleting a principal clears its ownership.
      await db.schema.createIndex('keys_by_owner').on('keys').column('owner_arn').execute();

      await db.schema
        .createTable('principal_policies')
        .addColumn('principal_arn', 'varchar(2048)', (c) => c.notNull().references('principals.arn').onDelete('cascade'))
        .addColumn('policy_name', 'varchar(128)', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('principal_policies_pk', ['principal_arn', 'policy_name'])
        .execute();

      await db.schema
        .createTable('principal_tags')
        .addColumn('principal_arn', 'varchar(2048)', (c) => c.notNull().references('principals.arn').onDelete('cascade'))
        .addColumn('tag_key', 'varchar(128)', (c) => c.notNull())
        .addColumn('tag_value', 'varchar(256)', (c) => c.notNull())
        .addPrimaryKeyConstraint('principal_tags_pk', ['principal_arn', 'tag_key'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('principal_tags').execute();
      await db.schema.dropTable('principal_policies').execute();
      await db.schema.dropIndex('keys_by_owner').execute();
      await db.schema.alterTable('keys').dropColumn('owner_arn').execute();
    },
  };
}
