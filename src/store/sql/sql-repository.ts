/**
 * {@link MetadataRepository} written once over Kysely, for every SQL database. A dialect
 * supplies only a {@link SqlFlavor} (column types, how to recognise a duplicate-key error).
 */
import type { Kysely } from 'kysely';
import { KmsError } from '../../core/errors.js';
import type {
  AccessKeyRecord,
  AliasRecord,
  ImportTokenRecord,
  KeyMaterialVersion,
  KeyRecord,
  PrincipalRecord,
  Tag,
} from '../../core/model.js';
import type { MetadataRepository, Page } from '../../core/ports.js';
import type { SqlFlavor } from './dialect.js';
import { SqlCustomKeyStoreRepository } from './key-store-repository.js';
import { decodeAliasesMarker, decodeKeysMarker, encodeAliasesMarker, encodeKeysMarker } from './marker.js';
import {
  accessKeyToRow,
  aliasToRow,
  importTokenToRow,
  keyToRow,
  principalToRow,
  rowToAccessKey,
  rowToAlias,
  rowToImportToken,
  rowToKey,
  rowToPrincipal,
  rowToVersion,
  versionToRow,
} from './rows.js';
import type { MetadataDatabase } from './schema.js';

type Db = Kysely<MetadataDatabase>;

/**
 * The repository over one Kysely handle: the database itself (each call its own transaction)
 * or a transaction (see {@link SqlRepository.atomically}).
 */
export class SqlRepository implements MetadataRepository {
  constructor(
    protected readonly db: Db,
    protected readonly flavor: SqlFlavor,
  ) {}

  /** Custom key stores and XKS credentials, on the same handle (so also inside a transaction). */
  get keyStores(): SqlCustomKeyStoreRepository {
    return new SqlCustomKeyStoreRepository(this.db, this.flavor);
  }

  // ───────────── keys ─────────────

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const row = await this.db.selectFrom('keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    return row && rowToKey(row);
  }

  async insertKey(key: KeyRecord): Promise<void> {
    await this.insertOnce(
      () => this.db.insertInto('keys').values(keyToRow(key)).execute(),
      `A key with the ARN ${key.arn} already exists.`,
    );
  }

  async updateKey(key: KeyRecord): Promise<boolean> {
    const { key_id: _id, ...changes } = keyToRow(key);
    const result = await this.db
      .updateTable('keys')
      .set(changes)
      .where('key_id', '=', key.keyId)
      .where('revision', '=', key.revision - 1)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteKey(keyId: string): Promise<void> {
    // Foreign keys cascade too; deleting explicitly keeps the contract independent of them.
    await this.atomically(async (db) => {
      await db.deleteFrom('key_versions').where('key_id', '=', keyId).execute();
      await db.deleteFrom('aliases').where('target_key_id', '=', keyId).execute();
      await db.deleteFrom('key_tags').where('key_id', '=', keyId).execute();
      await db.deleteFrom('import_tokens').where('key_id', '=', keyId).execute();
      await db.deleteFrom('keys').where('key_id', '=', keyId).execute();
    });
  }

  async listKeys(limit: number, marker?: string): Promise<Page<KeyRecord>> {
    const after = marker === undefined ? undefined : decodeKeysMarker(marker);
    let query = this.db.selectFrom('keys').selectAll();
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('creation_date', '>', after.creationMs),
          eb.and([eb('creation_date', '=', after.creationMs), eb('key_id', '>', after.keyId)]),
        ]),
      );
    }
    const rows = await query
      .orderBy('creation_date')
      .orderBy('key_id')
      .limit(pageSize(limit) + 1)
      .execute();
    const items = rows.slice(0, pageSize(limit)).map(rowToKey);
    const last = items.at(-1);
    return rows.length > items.length && last
      ? { items, nextMarker: encodeKeysMarker({ creationMs: last.creationDate.getTime(), keyId: last.keyId }) }
      : { items };
  }

  /**
   * Due means the scheduler can act now: a PendingDeletion key past its deletionDate, an
   * Enabled key with rotation on past its nextRotationDate, or expiring imported material past
   * validTo. Keys that merely carry a past date (a Disabled key whose rotation waits for
   * EnableKey) are left out, so that they cannot fill every batch and starve keys behind them.
   */
  async listKeysDue(now: Date, limit: number): Promise<KeyRecord[]> {
    const t = now.getTime();
    const rows = await this.db
      .selectFrom('keys')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb('key_state', '=', 'PendingDeletion'), eb('deletion_date', '<=', t)]),
          eb.and([eb('key_state', '=', 'Enabled'), eb('rotation_enabled', '=', 1), eb('next_rotation_date', '<=', t)]),
          eb.and([eb('expiration_model', '=', 'KEY_MATERIAL_EXPIRES'), eb('valid_to', '<=', t)]),
        ]),
      )
      .orderBy('creation_date')
      .orderBy('key_id')
      .limit(pageSize(limit))
      .execute();
    return rows.map(rowToKey);
  }

  async countKeys(): Promise<number> {
    const row = await this.db.selectFrom('keys').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // ───────────── key material versions ─────────────

  async getKeyVersion(keyId: string, versionId: string): Promise<KeyMaterialVersion | undefined> {
    const row = await this.db
      .selectFrom('key_versions')
      .selectAll()
      .where('key_id', '=', keyId)
      .where('version_id', '=', versionId)
      .executeTakeFirst();
    return row && rowToVersion(row);
  }

  async listKeyVersions(keyId: string): Promise<KeyMaterialVersion[]> {
    const rows = await this.db
      .selectFrom('key_versions')
      .selectAll()
      .where('key_id', '=', keyId)
      .orderBy('created_at')
      .orderBy('version_id')
      .execute();
    return rows.map(rowToVersion);
  }

  async insertKeyVersion(version: KeyMaterialVersion): Promise<void> {
    await this.insertOnce(
      () => this.db.insertInto('key_versions').values(versionToRow(version)).execute(),
      `Key material ${version.versionId} already exists for key ${version.keyId}.`,
    );
  }

  async deleteKeyVersions(keyId: string): Promise<void> {
    await this.db.deleteFrom('key_versions').where('key_id', '=', keyId).execute();
  }

  // ───────────── aliases ─────────────

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    const row = await this.db.selectFrom('aliases').selectAll().where('alias_name', '=', aliasName).executeTakeFirst();
    return row && rowToAlias(row);
  }

  async insertAlias(alias: AliasRecord): Promise<void> {
    // AWS's own wording, which names the alias ARN.
    await this.insertOnce(
      () => this.db.insertInto('aliases').values(aliasToRow(alias)).execute(),
      `An alias with the name ${alias.aliasArn} already exists`,
    );
  }

  async updateAlias(alias: AliasRecord): Promise<void> {
    const result = await this.db
      .updateTable('aliases')
      .set({
        alias_arn: alias.aliasArn,
        target_key_id: alias.targetKeyId,
        last_updated_date: alias.lastUpdatedDate.getTime(),
      })
      .where('alias_name', '=', alias.aliasName)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      throw new KmsError('NotFoundException', `Alias ${alias.aliasArn} is not found.`);
    }
  }

  async deleteAlias(aliasName: string): Promise<void> {
    await this.db.deleteFrom('aliases').where('alias_name', '=', aliasName).execute();
  }

  async listAliases(options: { keyId?: string; limit: number; marker?: string }): Promise<Page<AliasRecord>> {
    const after = options.marker === undefined ? undefined : decodeAliasesMarker(options.marker);
    let query = this.db.selectFrom('aliases').selectAll();
    if (options.keyId !== undefined) query = query.where('target_key_id', '=', options.keyId);
    if (after) query = query.where('alias_name', '>', after.aliasName);
    const size = pageSize(options.limit);
    const rows = await query.orderBy('alias_name').limit(size + 1).execute();
    const items = rows.slice(0, size).map(rowToAlias);
    const last = items.at(-1);
    return rows.length > items.length && last ? { items, nextMarker: encodeAliasesMarker({ aliasName: last.aliasName }) } : { items };
  }

  async countAliases(keyId: string): Promise<number> {
    const row = await this.db
      .selectFrom('aliases')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('target_key_id', '=', keyId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // ───────────── tags ─────────────

  async getTags(keyId: string): Promise<Tag[]> {
    const rows = await this.db
      .selectFrom('key_tags')
      .select(['tag_key', 'tag_value'])
      .where('key_id', '=', keyId)
      .orderBy('tag_key')
      .execute();
    return rows.map((r) => ({ TagKey: r.tag_key, TagValue: r.tag_value }));
  }

  async putTags(keyId: string, tags: Tag[]): Promise<void> {
    if (tags.length === 0) return;
    // Last one wins when the same key appears twice, as with successive TagResource calls;
    // one row per key also keeps the single upsert statement valid on PostgreSQL.
    const byKey = new Map(tags.map((t) => [t.TagKey, t.TagValue]));
    await this.db
      .insertInto('key_tags')
      .values([...byKey].map(([tag_key, tag_value]) => ({ key_id: keyId, tag_key, tag_value })))
      .onConflict((oc) => oc.columns(['key_id', 'tag_key']).doUpdateSet((eb) => ({ tag_value: eb.ref('excluded.tag_value') })))
      .execute();
  }

  async deleteTags(keyId: string, tagKeys: string[]): Promise<void> {
    if (tagKeys.length === 0) return;
    await this.db.deleteFrom('key_tags').where('key_id', '=', keyId).where('tag_key', 'in', tagKeys).execute();
  }

  // ───────────── principals and access keys ─────────────

  async getPrincipal(arn: string): Promise<PrincipalRecord | undefined> {
    const row = await this.db.selectFrom('principals').selectAll().where('arn', '=', arn).executeTakeFirst();
    if (!row) return undefined;
    const roles = await this.db
      .selectFrom('principal_roles')
      .select('role')
      .where('principal_arn', '=', arn)
      .orderBy('role')
      .execute();
    return rowToPrincipal(row, roles.map((r) => r.role));
  }

  async insertPrincipal(principal: PrincipalRecord): Promise<void> {
    await this.insertOnce(
      () =>
        this.atomically(async (db) => {
          await db.insertInto('principals').values(principalToRow(principal)).execute();
          const roles = [...new Set(principal.roles)];
          if (roles.length > 0) {
            await db
              .insertInto('principal_roles')
              .values(roles.map((role) => ({ principal_arn: principal.arn, role })))
              .execute();
          }
        }),
      `A principal with the ARN ${principal.arn} already exists.`,
    );
  }

  async listPrincipals(): Promise<PrincipalRecord[]> {
    const rows = await this.db.selectFrom('principals').selectAll().orderBy('arn').execute();
    const roleRows = await this.db.selectFrom('principal_roles').selectAll().orderBy('role').execute();
    const roles = new Map<string, string[]>();
    for (const r of roleRows) {
      const list = roles.get(r.principal_arn) ?? [];
      list.push(r.role);
      roles.set(r.principal_arn, list);
    }
    return rows.map((row) => rowToPrincipal(row, roles.get(row.arn) ?? []));
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const row = await this.db.selectFrom('access_keys').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
    return row && rowToAccessKey(row);
  }

  async insertAccessKey(accessKey: AccessKeyRecord): Promise<void> {
    await this.insertOnce(
      () => this.db.insertInto('access_keys').values(accessKeyToRow(accessKey)).execute(),
      `An access key with the id ${accessKey.accessKeyId} already exists.`,
    );
  }

  // ───────────── import tokens ─────────────

  async getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined> {
    const row = await this.db.selectFrom('import_tokens').selectAll().where('token_id', '=', tokenId).executeTakeFirst();
    return row && rowToImportToken(row);
  }

  async insertImportToken(token: ImportTokenRecord): Promise<void> {
    await this.insertOnce(
      () => this.db.insertInto('import_tokens').values(importTokenToRow(token)).execute(),
      `An import token with the id ${token.tokenId} already exists.`,
    );
  }

  async deleteImportTokens(keyId: string): Promise<void> {
    await this.db.deleteFrom('import_tokens').where('key_id', '=', keyId).execute();
  }

  async deleteExpiredImportTokens(now: Date): Promise<number> {
    const result = await this.db.deleteFrom('import_tokens').where('expires_at', '<=', now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // ───────────── helpers ─────────────

  /**
   * Runs several statements as one unit: inside the caller's transaction when this repository
   * is bound to one, in a transaction of its own otherwise.
   */
  protected async atomically<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.db.isTransaction ? fn(this.db) : this.db.transaction().execute(fn);
  }

  /**
   * Turns the driver's duplicate-key error into AlreadyExistsException. On PostgreSQL a failed
   * statement also aborts the surrounding transaction, so callers must not carry on inside
   * the same transaction after catching it; check first (`get…`) when a duplicate is expected.
   */
  private insertOnce(insert: () => Promise<unknown>, message: string): Promise<void> {
    return insertOnce(this.flavor, insert, message);
  }
}

/** See SqlRepository's insertOnce: the driver's duplicate-key error becomes AlreadyExistsException. */
export async function insertOnce(flavor: SqlFlavor, insert: () => Promise<unknown>, message: string): Promise<void> {
  try {
    await insert();
  } catch (error) {
    if (flavor.isUniqueViolation(error)) throw new KmsError('AlreadyExistsException', message);
    throw error;
  }
}

/** Stores accept any positive limit; the API layer enforces AWS's 1–1000 range. */
export function pageSize(limit: number): number {
  return Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : 1;
}
