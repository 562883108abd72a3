/**
 * {@link GrantRepository} over Kysely. Functions over a Kysely handle (the database or a
 * transaction); {@link SqlRepository} delegates to them.
 */
import type { Insertable, Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import type { GrantConstraints, GrantListPosition, GrantOperation, GrantRecord } from '../../core/grants/grant.js';
import type { Page } from '../../core/ports.js';
import { StoreError } from '../../core/store-error.js';
import type { SqlFlavor } from './dialect.js';
import type { GrantsTable, MetadataDatabase } from './schema.js';

type Db = Kysely<MetadataDatabase>;

export function grantToRow(grant: GrantRecord): Insertable<GrantsTable> {
  return {
    grant_id: grant.grantId,
    key_id: grant.keyId,
    name: grant.name ?? null,
    grantee_principal: grant.granteePrincipal,
    retiring_principal: grant.retiringPrincipal ?? null,
    issuing_account: grant.issuingAccount,
    creator_principal: grant.creatorPrincipal,
    operations: `,${grant.operations.join(',')},`,
    context_equals: grant.constraints?.encryptionContextEquals ? JSON.stringify(grant.constraints.encryptionContextEquals) : null,
    context_subset: grant.constraints?.encryptionContextSubset ? JSON.stringify(grant.constraints.encryptionContextSubset) : null,
    creation_date: grant.creationDate.getTime(),
  };
}

export function rowToGrant(row: Selectable<GrantsTable>): GrantRecord {
  const grant: GrantRecord = {
    grantId: row.grant_id,
    keyId: row.key_id,
    granteePrincipal: row.grantee_principal,
    issuingAccount: row.issuing_account,
    creatorPrincipal: row.creator_principal,
    operations: row.operations.split(',').filter((op) => op !== '') as GrantOperation[],
    creationDate: new Date(Number(row.creation_date)),
  };
  if (row.name !== null) grant.name = row.name;
  if (row.retiring_principal !== null) grant.retiringPrincipal = row.retiring_principal;
  const constraints: GrantConstraints = {};
  if (row.context_equals !== null) constraints.encryptionContextEquals = JSON.parse(row.context_equals) as Record<string, string>;
  if (row.context_subset !== null) constraints.encryptionContextSubset = JSON.parse(row.context_subset) as Record<string, string>;
  if (constraints.encryptionContextEquals || constraints.encryptionContextSubset) grant.constraints = constraints;
  return grant;
}

export async function getGrant(db: Db, grantId: string): Promise<GrantRecord | undefined> {
  const row = await db.selectFrom('grants').selectAll().where('grant_id', '=', grantId).executeTakeFirst();
  return row && rowToGrant(row);
}

export async function insertGrant(db: Db, flavor: SqlFlavor, grant: GrantRecord): Promise<void> {
  try {
    await db.insertInto('grants').values(grantToRow(grant)).execute();
  } catch (error) {
    if (flavor.isUniqueViolation(error)) throw new StoreError('conflict', 'grant', grant.grantId, { cause: error });
    throw error;
  }
}

export async function deleteGrant(db: Db, grantId: string): Promise<boolean> {
  const result = await db.deleteFrom('grants').where('grant_id', '=', grantId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function findGrantsByName(db: Db, keyId: string, name: string): Promise<GrantRecord[]> {
  const rows = await db.selectFrom('grants').selectAll().where('key_id', '=', keyId).where('name', '=', name).orderBy('grant_id').execute();
  return rows.map(rowToGrant);
}

export async function listGrantsForGrantee(
  db: Db,
  keyId: string,
  granteePrincipal: string,
  operation: GrantOperation,
  limit: number,
  afterGrantId?: string,
): Promise<GrantRecord[]> {
  let query = db
    .selectFrom('grants')
    .selectAll()
    .where('key_id', '=', keyId)
    .where('grantee_principal', '=', granteePrincipal)
    // Operation names are letters only: nothing in them is a LIKE wildcard.
    .where('operations', 'like', `%,${operation},%`);
  if (afterGrantId !== undefined) query = query.where('grant_id', '>', afterGrantId);
  const rows = await query.orderBy('grant_id').limit(pageSize(limit)).execute();
  return rows.map(rowToGrant);
}

export async function listGrants(
  db: Db,
  options: { keyId: string; grantId?: string; granteePrincipal?: string; limit: number; after?: GrantListPosition },
): Promise<Page<GrantRecord>> {
  let query = db.selectFrom('grants').selectAll().where('key_id', '=', options.keyId);
  if (options.grantId !== undefined) query = query.where('grant_id', '=', options.grantId);
  if (options.granteePrincipal !== undefined) query = query.where('grantee_principal', '=', options.granteePrincipal);
  return grantsPage(query, options.limit, options.after);
}

export async function listRetirableGrants(db: Db, options: { retiringPrincipal: string; limit: number; after?: GrantListPosition }): Promise<Page<GrantRecord>> {
  const query = db.selectFrom('grants').selectAll().where('retiring_principal', '=', options.retiringPrincipal);
  return grantsPage(query, options.limit, options.after);
}

export async function countGrants(db: Db, keyId: string): Promise<number> {
  const row = await db.selectFrom('grants').select((eb) => eb.fn.countAll().as('n')).where('key_id', '=', keyId).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function deleteGrantsForKey(db: Db, keyId: string): Promise<void> {
  await db.deleteFrom('grants').where('key_id', '=', keyId).execute();
}

/** One page of `query`'s grants in (creationDate, grantId) order, after `after`. */
async function grantsPage(query: SelectQueryBuilder<MetadataDatabase, 'grants', Selectable<GrantsTable>>, limit: number, after?: GrantListPosition): Promise<Page<GrantRecord>> {
  if (after) {
    const creationMs = after.creationDate.getTime();
    query = query.where((eb) => eb.or([eb('creation_date', '>', creationMs), eb.and([eb('creation_date', '=', creationMs), eb('grant_id', '>', after.grantId)])]));
  }
  const size = pageSize(limit);
  const rows = await query.orderBy('creation_date').orderBy('grant_id').limit(size + 1).execute();
  const items = rows.slice(0, size).map(rowToGrant);
  return { items, more: rows.length > items.length };
}

function pageSize(limit: number): number {
  return Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : 1;
}
