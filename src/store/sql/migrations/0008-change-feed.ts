/**
 * The change feed that keeps several nodes' caches coherent (src/store/postgres/change-feed.ts):
 * on PostgreSQL, every committed insert, update or delete of a row some node caches sends one
 * notification on the channel {@link CHANGE_CHANNEL}, carrying what changed, and numbers it
 * from the sequence `hsmkms_change_seq` so that a node can tell it missed one.
 *
 * The database writes the notifications (row triggers), not the application: a change made by
 * any node, by the offline CLI or by hand in psql is announced alike, and NOTIFY is
 * transactional — it reaches listeners when, and only if, the transaction commits.
 *
 * Payload: `<schema> <seq> <topic> <id>` (space-separated; ids never hold spaces but may be
 * long, up to a 2048-character ARN, well inside NOTIFY's 8000 bytes). The schema is there
 * because one database may hold several stores (`--store-schema`) on the one channel.
 *
 * Tables no node caches (import tokens, approval requests and votes, the CA's) send nothing:
 * their readers always read them from the database.
 *
 * SQLite has no feed (one machine; its read cache checks `PRAGMA data_version` on every read):
 * there this migration does nothing, so that both flavours share the numbering.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

/** The NOTIFY channel. */
export const CHANGE_CHANNEL = 'hsmkms_changes';
/** The sequence numbering changes (in the store's schema). */
export const CHANGE_SEQUENCE = 'hsmkms_change_seq';

/**
 * Which topic (src/core/invalidation.ts) each table's changes are, and the id each row names
 * (an SQL expression over the row `r`, NEW or OLD). `deletesOnly`: inserts are not news (new
 * key material is in no cache; its deletion must leave every node's handle cache).
 */
export const CHANGE_TRIGGERS: ReadonlyArray<{ table: string; topic: string; id: (r: string) => string; deletesOnly?: boolean }> = [
  { table: 'keys', topic: 'key', id: (r) => `${r}.key_id` },
  { table: 'key_versions', topic: 'key', id: (r) => `${r}.key_id` },
  { table: 'key_versions', topic: 'key-material', id: (r) => `${r}.key_id || '/' || ${r}.version_id`, deletesOnly: true },
  { table: 'aliases', topic: 'key', id: (r) => `${r}.target_key_id` },
  { table: 'key_tags', topic: 'key', id: (r) => `${r}.key_id` },
  { table: 'principals', topic: 'principal', id: (r) => `${r}.arn` },
  { table: 'principal_roles', topic: 'principal', id: (r) => `${r}.principal_arn` },
  { table: 'principal_policies', topic: 'principal', id: (r) => `${r}.principal_arn` },
  { table: 'principal_tags', topic: 'principal', id: (r) => `${r}.principal_arn` },
  { table: 'access_keys', topic: 'principal', id: (r) => `${r}.principal_arn` },
  { table: 'access_keys', topic: 'access-key', id: (r) => `${r}.access_key_id` },
  { table: 'grants', topic: 'grant', id: (r) => `${r}.key_id` },
  { table: 'quorum_rules', topic: 'quorum-rules', id: () => `'*'` },
  { table: 'custom_key_stores', topic: 'custom-key-store', id: (r) => `${r}.custom_key_store_id` },
  { table: 'custom_key_store_keys', topic: 'custom-key-store', id: (r) => `${r}.custom_key_store_id` },
  { table: 'xks_credentials', topic: 'xks-credential', id: (r) => `${r}.access_key_id` },
];

export function changeFeedSchema(flavor: SqlFlavor): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (flavor.name !== 'postgres') return;
      await sql`create sequence ${sql.id(CHANGE_SEQUENCE)}`.execute(db);
      // One function per (topic, id expression): the id is an expression over the row, so the
      // trigger function is generated rather than interpreting its arguments per row. The
      // sequence is named through the firing table's schema, so writers with any search_path
      // (psql, pg_dump restores) number their changes in the right one.
      for (const [index, t] of CHANGE_TRIGGERS.entries()) {
        const fn = `hsmkms_notify_${t.table}_${index}`;
        const id = (row: 'NEW' | 'OLD') => sql.raw(t.id(row));
        await sql`
          create function ${sql.id(fn)}() returns trigger language plpgsql as $$
          declare
            seq text := format('%I.%I', TG_TABLE_SCHEMA, ${sql.lit(CHANGE_SEQUENCE)});
          begin
            if TG_OP <> 'INSERT' then
              perform pg_notify(${sql.lit(CHANGE_CHANNEL)}, concat_ws(' ', TG_TABLE_SCHEMA, nextval(seq::regclass), ${sql.lit(t.topic)}, ${id('OLD')}));
            end if;
            if TG_OP <> 'DELETE' and (TG_OP = 'INSERT' or (${id('NEW')}) is distinct from (${id('OLD')})) then
              perform pg_notify(${sql.lit(CHANGE_CHANNEL)}, concat_ws(' ', TG_TABLE_SCHEMA, nextval(seq::regclass), ${sql.lit(t.topic)}, ${id('NEW')}));
            end if;
            return null;
          end
          $$`.execute(db);
        await sql`
          create trigger ${sql.id(`${fn}_trigger`)} after ${sql.raw(t.deletesOnly ? 'update or delete' : 'insert or update or delete')} on ${sql.id(t.table)}
          for each row execute function ${sql.id(fn)}()`.execute(db);
      }
    },
  };
}
