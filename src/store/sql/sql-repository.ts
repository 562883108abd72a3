/**
 * {@link MetadataRepository} written once over Kysely, for every SQL database. A dialect
 * supplies only a {@link SqlFlavor} (column types, how to recognise a duplicate-key error).
 */
import type { Kysely } from 'kysely';
import { StoreError, type StoreRecord } from '../../core/store-error.js';
import type {
  AccessKeyRecord,
  AliasRecord,
  ImportTokenRecord,
  ImportedKeyMaterial,
  KeyMaterialVersion,
  KeyRecord,
  KeySpec,
  MaterialDestruction,
  PrincipalRecord,
  Tag,
} from '../../core/model.js';
import type { AliasListPosition, KeyListPosition, MetadataRepository, Page } from '../../core/ports.js';
import type { AccessKeySummary, IdentityPolicyRecord, PrincipalAuthorization, PrincipalListPosition } from '../../core/authorization/repository.js';
import type { PrincipalRole } from '../../core/model.js';
import * as authz from './authorization-sql.js';
import * as grantsSql from './grants-sql.js';
import * as quorumSql from './quorum-sql.js';
import type { GrantListPosition, GrantOperation, GrantRecord } from '../../core/grants/grant.js';
import type {
  ApprovalRequestListPosition,
  ApprovalRequestRecord,
  ApprovalRequestStatus,
  ApprovalVote,
  QuorumRuleRecord,
} from '../../core/quorum/quorum.js';
import type { SqlFlavor } from './dialect.js';
import { SqlCustomKeyStoreRepository } from './key-store-repository.js';
import { SqlMultiRegionRepository } from './multi-region-repository.js';
import {
  accessKeyToRow,
  aliasToRow,
  destructionToRow,
  importTokenToRow,
  keyToRow,
  principalToRow,
  rowToAccessKey,
  rowToAlias,
  rowToDestruction,
  rowToImportToken,
  rowToKey,
  importedMaterialToRow,
  rowToImportedMaterial,
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

  /** Multi-Region keys, peers and replication jobs, on the same handle (so also inside a transaction). */
  get multiRegion(): SqlMultiRegionRepository {
    return new SqlMultiRegionRepository(this.db, this.flavor);
  }

  // ───────────── keys ─────────────

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const row = await this.db.selectFrom('keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    return row && rowToKey(row);
  }

  async insertKey(key: KeyRecord): Promise<void> {
    await this.insertOnce(() => this.db.insertInto('keys').values(keyToRow(key)).execute(), 'key', key.arn);
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
      await db.deleteFrom('imported_key_materials').where('key_id', '=', keyId).execute();
      await db.deleteFrom('aliases').where('target_key_id', '=', keyId).execute();
      await db.deleteFrom('key_tags').where('key_id', '=', keyId).execute();
      await db.deleteFrom('import_tokens').where('key_id', '=', keyId).execute();
      await grantsSql.deleteGrantsForKey(db, keyId);
      await db.deleteFrom('quorum_rules').where('key_id', '=', keyId).execute();
      await db.deleteFrom('transfer_material').where('key_id', '=', keyId).execute();
      await db.deleteFrom('multi_region_keys').where('key_id', '=', keyId).execute();
      await db.deleteFrom('keys').where('key_id', '=', keyId).execute();
    });
  }

  async listKeys(limit: number, after?: KeyListPosition): Promise<Page<KeyRecord>> {
    const rows = await this.keysAfter(after)
      .orderBy('creation_date')
      .orderBy('key_id')
      .limit(pageSize(limit) + 1)
      .execute();
    const items = rows.slice(0, pageSize(limit)).map(rowToKey);
    return { items, more: rows.length > items.length };
  }

  /**
   * Due means the scheduler can act now: a PendingDeletion key past its deletionDate, an
   * Enabled key with rotation on past its nextRotationDate, or expiring imported material past
   * validTo (the key's, or a material's pending rotation). Keys that merely carry a past date (a Disabled key whose rotation waits for
   * EnableKey) are left out, so that they cannot fill every batch and starve keys behind them.
   */
  async listKeysDue(now: Date, limit: number, after?: KeyListPosition): Promise<KeyRecord[]> {
    const t = now.getTime();
    // One arm per kind of due work, each on its date's index: as one OR ordered by creation
    // date, SQLite walked keys_by_creation over every key, every scheduler pass.
    const keys = () => this.keysAfter(after);
    const rows = await keys()
      .where('deletion_date', '<=', t)
      .where('key_state', '=', 'PendingDeletion')
      .union(keys().where('next_rotation_date', '<=', t).where('key_state', '=', 'Enabled').where('rotation_enabled', '=', 1))
      .union(keys().where('valid_to', '<=', t).where('expiration_model', '=', 'KEY_MATERIAL_EXPIRES'))
      // Material pending rotation is left out of the key's own valid_to (AWS's KeyMetadata.ValidTo) but expires too.
      .union(
        keys().where('key_id', 'in', this.db.selectFrom('imported_key_materials').select('key_id').where('pending_rotation', '=', 1).where('valid_to', '<=', t)),
      )
      .orderBy('creation_date')
      .orderBy('key_id')
      .limit(pageSize(limit))
      .execute();
    return rows.map(rowToKey);
  }

  /** Every column of `keys`, after `after` in (creation date, key id) order when given. */
  private keysAfter(after: KeyListPosition | undefined) {
    const query = this.db.selectFrom('keys').selectAll();
    if (!after) return query;
    const creationMs = after.creationDate.getTime();
    return query.where((eb) => eb.or([eb('creation_date', '>', creationMs), eb.and([eb('creation_date', '=', creationMs), eb('key_id', '>', after.keyId)])]));
  }

  async countKeys(keySpec?: KeySpec): Promise<number> {
    let query = this.db.selectFrom('keys').select((eb) => eb.fn.countAll().as('n'));
    if (keySpec !== undefined) query = query.where('key_spec', '=', keySpec);
    const row = await query.executeTakeFirstOrThrow();
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
      'key-version',
      `${version.versionId} of key ${version.keyId}`,
    );
  }

  async deleteKeyVersions(keyId: string): Promise<void> {
    await this.db.deleteFrom('key_versions').where('key_id', '=', keyId).execute();
  }

  async deleteKeyVersion(keyId: string, versionId: string): Promise<void> {
    await this.db.deleteFrom('key_versions').where('key_id', '=', keyId).where('version_id', '=', versionId).execute();
  }

  // ───────────── imported key materials ─────────────

  async listImportedMaterials(keyId: string): Promise<ImportedKeyMaterial[]> {
    const rows = await this.db
      .selectFrom('imported_key_materials')
      .selectAll()
      .where('key_id', '=', keyId)
      .orderBy('imported_at')
      .orderBy('version_id')
      .execute();
    return rows.map(rowToImportedMaterial);
  }

  async putImportedMaterial(material: ImportedKeyMaterial): Promise<void> {
    await this.atomically(async (db) => {
      await db.deleteFrom('imported_key_materials').where('key_id', '=', material.keyId).where('version_id', '=', material.versionId).execute();
      await db.insertInto('imported_key_materials').values(importedMaterialToRow(material)).execute();
    });
  }

  async deleteImportedMaterial(keyId: string, versionId: string): Promise<void> {
    await this.db.deleteFrom('imported_key_materials').where('key_id', '=', keyId).where('version_id', '=', versionId).execute();
  }

  // ───────────── aliases ─────────────

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    const row = await this.db.selectFrom('aliases').selectAll().where('alias_name', '=', aliasName).executeTakeFirst();
    return row && rowToAlias(row);
  }

  async insertAlias(alias: AliasRecord): Promise<void> {
    await this.insertOnce(() => this.db.insertInto('aliases').values(aliasToRow(alias)).execute(), 'alias', alias.aliasArn);
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
    if (Number(result.numUpdatedRows) !== 1) throw new StoreError('not-found', 'alias', alias.aliasArn);
  }

  async deleteAlias(aliasName: string): Promise<void> {
    await this.db.deleteFrom('aliases').where('alias_name', '=', aliasName).execute();
  }

  async listAliases(options: { keyId?: string; limit: number; after?: AliasListPosition }): Promise<Page<AliasRecord>> {
    let query = this.db.selectFrom('aliases').selectAll();
    if (options.keyId !== undefined) query = query.where('target_key_id', '=', options.keyId);
    if (options.after) query = query.where('alias_name', '>', options.after.aliasName);
    const size = pageSize(options.limit);
    const rows = await query.orderBy('alias_name').limit(size + 1).execute();
    const items = rows.slice(0, size).map(rowToAlias);
    return { items, more: rows.length > items.length };
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
      'principal',
      principal.arn,
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
    await this.insertOnce(() => this.db.insertInto('access_keys').values(accessKeyToRow(accessKey)).execute(), 'access-key', accessKey.accessKeyId);
  }

  // ───────────── named transaction locks ─────────────

  async holdLock(name: string): Promise<void> {
    if (!this.db.isTransaction) throw new Error(`metadata store: holdLock(${name}) outside a transaction would hold nothing`);
    const lock = this.flavor.transactionLock;
    // A SELECT node, not raw SQL: see PostgresMetadataStore.health.
    if (lock) await this.db.selectNoFrom(lock(name).as('locked')).execute();
  }

  // ───────────── import tokens ─────────────

  async getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined> {
    const row = await this.db.selectFrom('import_tokens').selectAll().where('token_id', '=', tokenId).executeTakeFirst();
    return row && rowToImportToken(row);
  }

  async insertImportToken(token: ImportTokenRecord): Promise<void> {
    await this.insertOnce(() => this.db.insertInto('import_tokens').values(importTokenToRow(token)).execute(), 'import-token', token.tokenId);
  }

  async deleteImportTokens(keyId: string): Promise<void> {
    await this.db.deleteFrom('import_tokens').where('key_id', '=', keyId).execute();
  }

  async deleteExpiredImportTokens(now: Date): Promise<number> {
    const result = await this.db.deleteFrom('import_tokens').where('expires_at', '<=', now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // ───────────── token objects to destroy (core/material-destruction.ts) ─────────────

  async insertMaterialDestruction(destruction: MaterialDestruction): Promise<void> {
    await this.insertOnce(
      () => this.db.insertInto('material_destructions').values(destructionToRow(destruction)).execute(),
      'material-destruction',
      `${destruction.versionId} of key ${destruction.keyId}`,
    );
  }

  async listMaterialDestructionsDue(now: Date, limit: number, setBackAfter?: Date): Promise<MaterialDestruction[]> {
    const rows = await this.db
      .selectFrom('material_destructions')
      .selectAll()
      .where((eb) =>
        setBackAfter ? eb.or([eb('not_before', '<=', now.getTime()), eb('not_before', '>', setBackAfter.getTime())]) : eb('not_before', '<=', now.getTime()),
      )
      // A record whose key exists is never claimed: it must not fill every batch.
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('keys').select('key_id').whereRef('keys.key_id', '=', 'material_destructions.key_id'))))
      .orderBy('not_before')
      .orderBy('key_id')
      .orderBy('version_id')
      .limit(pageSize(limit))
      .execute();
    return rows.map(rowToDestruction);
  }

  async claimMaterialDestruction(keyId: string, versionId: string, attempts: number, retryAt: Date): Promise<boolean> {
    // One statement: on PostgreSQL it waits for a transaction that holds the row (CreateKey
    // withdrawing it) and re-reads it after; on SQLite writers take turns.
    const result = await this.db
      .updateTable('material_destructions')
      .set({ attempts: attempts + 1, not_before: retryAt.getTime() })
      .where('key_id', '=', keyId)
      .where('version_id', '=', versionId)
      .where('attempts', '=', attempts)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('keys').select('key_id').where('keys.key_id', '=', keyId))))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteMaterialDestruction(keyId: string, versionId: string): Promise<void> {
    await this.db.deleteFrom('material_destructions').where('key_id', '=', keyId).where('version_id', '=', versionId).execute();
  }

  async withdrawMaterialDestruction(keyId: string, versionId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('material_destructions')
      .where('key_id', '=', keyId)
      .where('version_id', '=', versionId)
      .where('attempts', '=', 0)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  // ───────────── authorization (src/store/sql/authorization-sql.ts) ─────────────

  getPrincipalAuthorization(arn: string, accessKeyId?: string): Promise<PrincipalAuthorization | undefined> {
    return authz.getPrincipalAuthorization(this.db, arn, accessKeyId);
  }
  listPrincipalsPage(limit: number, after?: PrincipalListPosition): Promise<Page<PrincipalRecord>> {
    return authz.listPrincipalsPage(this.db, limit, after);
  }
  countPrincipals(role?: PrincipalRole): Promise<number> {
    return authz.countPrincipals(this.db, role);
  }
  setPrincipalRoles(arn: string, roles: PrincipalRole[]): Promise<boolean> {
    return authz.setPrincipalRoles(this.db, arn, roles);
  }
  deletePrincipal(arn: string, now: Date = new Date()): Promise<boolean> {
    return authz.deletePrincipal(this.db, arn, now);
  }
  putPrincipalPolicy(policy: IdentityPolicyRecord): Promise<void> {
    return authz.putPrincipalPolicy(this.db, policy);
  }
  deletePrincipalPolicy(arn: string, policyName: string): Promise<boolean> {
    return authz.deletePrincipalPolicy(this.db, arn, policyName);
  }
  listPrincipalPolicies(arn: string): Promise<IdentityPolicyRecord[]> {
    return authz.listPrincipalPolicies(this.db, arn);
  }
  putPrincipalTags(arn: string, tags: Tag[]): Promise<void> {
    return authz.putPrincipalTags(this.db, arn, tags);
  }
  deletePrincipalTags(arn: string, tagKeys: string[]): Promise<void> {
    return authz.deletePrincipalTags(this.db, arn, tagKeys);
  }
  listAccessKeys(principalArn: string): Promise<AccessKeySummary[]> {
    return authz.listAccessKeys(this.db, principalArn);
  }
  deleteAccessKey(accessKeyId: string): Promise<boolean> {
    return authz.deleteAccessKey(this.db, accessKeyId);
  }
  countKeysOwnedBy(arn: string): Promise<number> {
    return authz.countKeysOwnedBy(this.db, arn);
  }

  // ───────────── grants (src/store/sql/grants-sql.ts) ─────────────

  getGrant(grantId: string): Promise<GrantRecord | undefined> {
    return grantsSql.getGrant(this.db, grantId);
  }
  insertGrant(grant: GrantRecord): Promise<void> {
    return grantsSql.insertGrant(this.db, this.flavor, grant);
  }
  deleteGrant(grantId: string): Promise<boolean> {
    return grantsSql.deleteGrant(this.db, grantId);
  }
  findGrantsByName(keyId: string, name: string): Promise<GrantRecord[]> {
    return grantsSql.findGrantsByName(this.db, keyId, name);
  }
  listGrantsForGrantee(keyId: string, granteePrincipal: string, operation: GrantOperation, limit: number, afterGrantId?: string): Promise<GrantRecord[]> {
    return grantsSql.listGrantsForGrantee(this.db, keyId, granteePrincipal, operation, limit, afterGrantId);
  }
  listGrants(options: { keyId: string; grantId?: string; granteePrincipal?: string; limit: number; after?: GrantListPosition }): Promise<Page<GrantRecord>> {
    return grantsSql.listGrants(this.db, options);
  }
  listRetirableGrants(options: { retiringPrincipal: string; limit: number; after?: GrantListPosition }): Promise<Page<GrantRecord>> {
    return grantsSql.listRetirableGrants(this.db, options);
  }
  countGrants(keyId: string): Promise<number> {
    return grantsSql.countGrants(this.db, keyId);
  }
  deleteGrantsForKey(keyId: string): Promise<void> {
    return grantsSql.deleteGrantsForKey(this.db, keyId);
  }

  // ───────────── quorum (src/store/sql/quorum-sql.ts) ─────────────

  listQuorumRules(): Promise<QuorumRuleRecord[]> {
    return quorumSql.listQuorumRules(this.db);
  }
  getQuorumRule(ruleId: string): Promise<QuorumRuleRecord | undefined> {
    return quorumSql.getQuorumRule(this.db, ruleId);
  }
  putQuorumRule(rule: QuorumRuleRecord): Promise<void> {
    return quorumSql.putQuorumRule(this.db, rule);
  }
  deleteQuorumRule(ruleId: string): Promise<boolean> {
    return quorumSql.deleteQuorumRule(this.db, ruleId);
  }
  insertApprovalRequest(request: ApprovalRequestRecord): Promise<void> {
    return quorumSql.insertApprovalRequest(this.db, this.flavor, request);
  }
  getApprovalRequest(requestId: string): Promise<ApprovalRequestRecord | undefined> {
    return quorumSql.getApprovalRequest(this.db, requestId);
  }
  lockApprovalRequest(requestId: string): Promise<void> {
    return quorumSql.lockApprovalRequest(this.db, this.flavor, requestId);
  }
  findOpenApprovalRequest(requesterArn: string, operation: string, parametersHash: string, now: Date): Promise<ApprovalRequestRecord | undefined> {
    return quorumSql.findOpenApprovalRequest(this.db, requesterArn, operation, parametersHash, now);
  }
  listApprovalRequests(options: {
    status?: ApprovalRequestStatus | 'Expired';
    now: Date;
    limit: number;
    after?: ApprovalRequestListPosition;
    visibleTo?: string;
  }): Promise<Page<ApprovalRequestRecord>> {
    return quorumSql.listApprovalRequests(this.db, options);
  }
  addApprovalVote(requestId: string, vote: ApprovalVote): Promise<boolean> {
    return quorumSql.addApprovalVote(this.db, this.flavor, requestId, vote);
  }
  countPendingApprovalRequests(requesterArn: string, now: Date, cap: number): Promise<number> {
    return quorumSql.countPendingApprovalRequests(this.db, requesterArn, now, cap);
  }
  transitionApprovalRequest(requestId: string, from: ApprovalRequestStatus, to: ApprovalRequestStatus, now: Date): Promise<boolean> {
    return quorumSql.transitionApprovalRequest(this.db, requestId, from, to, now);
  }
  deleteApprovalRequestsExpiredBefore(before: Date): Promise<number> {
    return quorumSql.deleteApprovalRequestsExpiredBefore(this.db, before);
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
   * Turns the driver's duplicate-key error into a StoreError `conflict` naming the record. On
   * PostgreSQL a failed statement also aborts the surrounding transaction, so callers must not
   * carry on inside the same transaction after catching it; check first (`get…`) when a
   * duplicate is expected.
   */
  private insertOnce(insert: () => Promise<unknown>, record: StoreRecord, subject: string): Promise<void> {
    return insertOnce(this.flavor, insert, record, subject);
  }
}

/** See SqlRepository's insertOnce: the driver's duplicate-key error becomes a StoreError `conflict`. */
export async function insertOnce(flavor: SqlFlavor, insert: () => Promise<unknown>, record: StoreRecord, subject: string): Promise<void> {
  try {
    await insert();
  } catch (error) {
    if (flavor.isUniqueViolation(error)) throw new StoreError('conflict', record, subject, { cause: error });
    throw error;
  }
}

/** Stores accept any positive limit; the API layer enforces AWS's 1–1000 range. */
export function pageSize(limit: number): number {
  return Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : 1;
}
