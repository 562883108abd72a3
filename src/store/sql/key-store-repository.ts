/**
 * {@link CustomKeyStoreRepository} over Kysely: custom key stores, which store holds which key,
 * and the XKS proxy credentials. Written once for every SQL database, like sql-repository.ts,
 * which exposes it as `keyStores` (also inside transactions).
 */
import type { Insertable, Kysely, Selectable } from 'kysely';
import type {
  ConnectionErrorCode,
  ConnectionState,
  CustomKeyStoreRecord,
  CustomKeyStoreType,
  KeyStoreKeyRecord,
  XksCredentialRecord,
  XksProxyConnectivity,
} from '../../core/key-stores/model.js';
import type { CustomKeyStoreRepository, KeyStoreListPosition } from '../../core/key-stores/ports.js';
import type { Page } from '../../core/ports.js';
import type { StoreRecord } from '../../core/store-error.js';
import type { SqlFlavor } from './dialect.js';
import type { CustomKeyStoresTable, XksCredentialsTable } from './key-store-schema.js';
import type { MetadataDatabase } from './schema.js';
import { compact } from './rows.js';
import { insertOnce, pageSize } from './sql-repository.js';

type Db = Kysely<MetadataDatabase>;

export class SqlCustomKeyStoreRepository implements CustomKeyStoreRepository {
  constructor(
    private readonly db: Db,
    private readonly flavor: SqlFlavor,
  ) {}

  // ───────────── custom key stores ─────────────

  async getCustomKeyStore(customKeyStoreId: string): Promise<CustomKeyStoreRecord | undefined> {
    const row = await this.db.selectFrom('custom_key_stores').selectAll().where('custom_key_store_id', '=', customKeyStoreId).executeTakeFirst();
    return row && rowToStore(row);
  }

  async getCustomKeyStoreByName(name: string): Promise<CustomKeyStoreRecord | undefined> {
    const row = await this.db.selectFrom('custom_key_stores').selectAll().where('name', '=', name).executeTakeFirst();
    return row && rowToStore(row);
  }

  async listCustomKeyStores(limit: number, after?: KeyStoreListPosition): Promise<Page<CustomKeyStoreRecord>> {
    let query = this.db.selectFrom('custom_key_stores').selectAll();
    if (after) {
      const creationMs = after.creationDate.getTime();
      query = query.where((eb) =>
        eb.or([
          eb('creation_date', '>', creationMs),
          eb.and([eb('creation_date', '=', creationMs), eb('custom_key_store_id', '>', after.customKeyStoreId)]),
        ]),
      );
    }
    const size = pageSize(limit);
    const rows = await query.orderBy('creation_date').orderBy('custom_key_store_id').limit(size + 1).execute();
    return { items: rows.slice(0, size).map(rowToStore), more: rows.length > size };
  }

  async countCustomKeyStores(): Promise<number> {
    const row = await this.db.selectFrom('custom_key_stores').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insertCustomKeyStore(store: CustomKeyStoreRecord): Promise<void> {
    await this.insertOnce(
      () => this.db.insertInto('custom_key_stores').values(storeToRow(store)).execute(),
      'custom-key-store',
      `${store.customKeyStoreId} (${store.name})`,
    );
  }

  async updateCustomKeyStore(store: CustomKeyStoreRecord): Promise<boolean> {
    const { custom_key_store_id: _id, ...changes } = storeToRow(store);
    const result = await this.db
      .updateTable('custom_key_stores')
      .set(changes)
      .where('custom_key_store_id', '=', store.customKeyStoreId)
      .where('revision', '=', store.revision - 1)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteCustomKeyStore(customKeyStoreId: string): Promise<void> {
    await this.db.deleteFrom('custom_key_stores').where('custom_key_store_id', '=', customKeyStoreId).execute();
  }

  // ───────────── keys in custom key stores ─────────────

  async getKeyStoreKey(keyId: string): Promise<KeyStoreKeyRecord | undefined> {
    const row = await this.db.selectFrom('custom_key_store_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    return row && compact({ keyId: row.key_id, customKeyStoreId: row.custom_key_store_id, xksKeyId: row.xks_key_id ?? undefined });
  }

  async insertKeyStoreKey(record: KeyStoreKeyRecord): Promise<void> {
    await this.insertOnce(
      () =>
        this.db
          .insertInto('custom_key_store_keys')
          .values({ key_id: record.keyId, custom_key_store_id: record.customKeyStoreId, xks_key_id: record.xksKeyId ?? null })
          .execute(),
      'custom-key-store-key',
      `${record.keyId}${record.xksKeyId === undefined ? '' : ` (external key ${record.xksKeyId})`} in ${record.customKeyStoreId}`,
    );
  }

  async countKeysInCustomKeyStore(customKeyStoreId: string): Promise<number> {
    const row = await this.db
      .selectFrom('custom_key_store_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('custom_key_store_id', '=', customKeyStoreId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async findKeyByXksKeyId(customKeyStoreId: string, xksKeyId: string): Promise<KeyStoreKeyRecord | undefined> {
    const row = await this.db
      .selectFrom('custom_key_store_keys')
      .selectAll()
      .where('custom_key_store_id', '=', customKeyStoreId)
      .where('xks_key_id', '=', xksKeyId)
      .executeTakeFirst();
    return row && { keyId: row.key_id, customKeyStoreId: row.custom_key_store_id, xksKeyId };
  }

  // ───────────── XKS proxy credentials ─────────────

  async getXksCredential(accessKeyId: string): Promise<XksCredentialRecord | undefined> {
    const row = await this.db.selectFrom('xks_credentials').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
    return row && rowToCredential(row);
  }

  async listXksCredentials(): Promise<XksCredentialRecord[]> {
    const rows = await this.db.selectFrom('xks_credentials').selectAll().orderBy('uri_prefix').orderBy('created_at').execute();
    return rows.map(rowToCredential);
  }

  async insertXksCredential(credential: XksCredentialRecord): Promise<void> {
    await this.insertOnce(
      () =>
        this.db
          .insertInto('xks_credentials')
          .values({
            access_key_id: credential.accessKeyId,
            uri_prefix: credential.uriPrefix,
            sealed_secret: credential.sealedSecret,
            created_at: credential.createdAt.getTime(),
          })
          .execute(),
      'xks-credential',
      credential.accessKeyId,
    );
  }

  async deleteXksCredential(accessKeyId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('xks_credentials').where('access_key_id', '=', accessKeyId).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  private insertOnce(insert: () => Promise<unknown>, record: StoreRecord, subject: string): Promise<void> {
    return insertOnce(this.flavor, insert, record, subject);
  }
}

function storeToRow(store: CustomKeyStoreRecord): Insertable<CustomKeyStoresTable> {
  const xks = store.xksProxy;
  return {
    custom_key_store_id: store.customKeyStoreId,
    name: store.name,
    store_type: store.type,
    creation_date: store.creationDate.getTime(),
    connection_state: store.connectionState,
    connection_error_code: store.connectionErrorCode ?? null,
    cloud_hsm_cluster_id: store.cloudHsmClusterId ?? null,
    trust_anchor_certificate: store.trustAnchorCertificate ?? null,
    sealed_password: store.sealedPassword ?? null,
    xks_uri_endpoint: xks?.uriEndpoint ?? null,
    xks_uri_path: xks?.uriPath ?? null,
    xks_connectivity: xks?.connectivity ?? null,
    xks_access_key_id: xks?.accessKeyId ?? null,
    xks_sealed_secret: xks?.sealedSecretAccessKey ?? null,
    revision: store.revision,
  };
}

function rowToStore(row: Selectable<CustomKeyStoresTable>): CustomKeyStoreRecord {
  const xks =
    row.xks_uri_endpoint !== null && row.xks_uri_path !== null && row.xks_access_key_id !== null && row.xks_sealed_secret !== null
      ? {
          uriEndpoint: row.xks_uri_endpoint,
          uriPath: row.xks_uri_path,
          connectivity: (row.xks_connectivity ?? 'PUBLIC_ENDPOINT') as XksProxyConnectivity,
          accessKeyId: row.xks_access_key_id,
          sealedSecretAccessKey: new Uint8Array(row.xks_sealed_secret),
        }
      : undefined;
  return compact({
    customKeyStoreId: row.custom_key_store_id,
    name: row.name,
    type: row.store_type as CustomKeyStoreType,
    creationDate: new Date(Number(row.creation_date)),
    connectionState: row.connection_state as ConnectionState,
    connectionErrorCode: (row.connection_error_code ?? undefined) as ConnectionErrorCode | undefined,
    cloudHsmClusterId: row.cloud_hsm_cluster_id ?? undefined,
    trustAnchorCertificate: row.trust_anchor_certificate ?? undefined,
    sealedPassword: row.sealed_password === null ? undefined : new Uint8Array(row.sealed_password),
    xksProxy: xks,
    revision: Number(row.revision),
  });
}

function rowToCredential(row: Selectable<XksCredentialsTable>): XksCredentialRecord {
  return {
    accessKeyId: row.access_key_id,
    uriPrefix: row.uri_prefix,
    sealedSecret: new Uint8Array(row.sealed_secret),
    createdAt: new Date(Number(row.created_at)),
  };
}
