/**
 * {@link AuthorizationRepository} over Kysely: principals' roles, identity policies, tags,
 * access keys and key ownership. Functions over a Kysely handle (the database or a
 * transaction); {@link SqlRepository} delegates to them.
 */
import { sql, type Kysely } from 'kysely';
import type {
  AccessKeySummary,
  IdentityPolicyRecord,
  PrincipalAuthorization,
  PrincipalListPosition,
} from '../../core/authorization/repository.js';
import type { PrincipalRecord, PrincipalRole, Tag } from '../../core/model.js';
import type { Page } from '../../core/ports.js';
import { rowToPrincipal } from './rows.js';
import type { MetadataDatabase } from './schema.js';

type Db = Kysely<MetadataDatabase>;
type Num = number | string | bigint | null;

/** One row of the principal-authorization query: a kind tag and up to three values. */
export interface PrincipalAuthorizationRow {
  kind: string;
  a: string;
  b: string | null;
  c: number | string | bigint | null;
}

/**
 * Everything an authorization decision reads about one principal, as a single UNION ALL
 * statement (one round trip on any database): `p` the principal, `u` its unique id (users only),
 * `r` each role, `y` each identity policy, `t` each tag, `k` the access key's status.
 */
export function principalAuthorizationQuery(db: Db, arn: string, accessKeyId: string) {
  return db
    .selectFrom('principals')
    .select([sql.lit('p').as('kind'), 'name as a', sql<string | null>`${sql.ref('account_id')}`.as('b'), sql<Num>`${sql.ref('created_at')}`.as('c')])
    .where('arn', '=', arn)
    .unionAll(
      db
        .selectFrom('principals')
        .select([sql.lit('u').as('kind'), sql<string>`${sql.ref('user_id')}`.as('a'), sql<string | null>`null`.as('b'), sql<Num>`null`.as('c')])
        .where('arn', '=', arn)
        .where('user_id', 'is not', null),
    )
    .unionAll(
      db
        .selectFrom('principal_roles')
        .select([sql.lit('r').as('kind'), 'role as a', sql<string | null>`null`.as('b'), sql<Num>`null`.as('c')])
        .where('principal_arn', '=', arn),
    )
    .unionAll(
      db
        .selectFrom('principal_policies')
        .select([sql.lit('y').as('kind'), 'policy_name as a', 'document as b', sql<Num>`null`.as('c')])
        .where('principal_arn', '=', arn),
    )
    .unionAll(
      db
        .selectFrom('principal_tags')
        .select([sql.lit('t').as('kind'), 'tag_key as a', 'tag_value as b', sql<Num>`null`.as('c')])
        .where('principal_arn', '=', arn),
    )
    .unionAll(
      db
        .selectFrom('access_keys')
        .select([sql.lit('k').as('kind'), 'status as a', sql<string | null>`null`.as('b'), sql<Num>`null`.as('c')])
        .where('access_key_id', '=', accessKeyId)
        .where('principal_arn', '=', arn),
    );
}

/** Folds the query's rows into the record; undefined when the principal row is missing. */
export function toPrincipalAuthorization(arn: string, rows: readonly PrincipalAuthorizationRow[]): PrincipalAuthorization | undefined {
  const principalRow = rows.find((r) => r.kind === 'p');
  if (!principalRow) return undefined;
  const roles: string[] = [];
  const policies: PrincipalAuthorization['policies'] = [];
  const tags: Tag[] = [];
  let accessKeyStatus: PrincipalAuthorization['accessKeyStatus'];
  let userId: string | undefined;
  for (const row of rows) {
    if (row.kind === 'u') userId = row.a;
    else if (row.kind === 'r') roles.push(row.a);
    else if (row.kind === 'y') policies.push({ policyName: row.a, document: row.b ?? '' });
    else if (row.kind === 't') tags.push({ TagKey: row.a, TagValue: row.b ?? '' });
    else if (row.kind === 'k') accessKeyStatus = row.a === 'Active' ? 'Active' : 'Inactive';
  }
  roles.sort();
  policies.sort((x, y) => (x.policyName < y.policyName ? -1 : x.policyName > y.policyName ? 1 : 0));
  const principal = rowToPrincipal(
    { arn, name: principalRow.a, account_id: principalRow.b ?? '', created_at: principalRow.c ?? 0, user_id: userId ?? null },
    roles,
  );
  return accessKeyStatus === undefined ? { principal, policies, tags } : { principal, policies, tags, accessKeyStatus };
}

export async function getPrincipalAuthorization(db: Db, arn: string, accessKeyId?: string): Promise<PrincipalAuthorization | undefined> {
  // An empty id matches no access key (ids are 16+ characters), so the statement stays one shape.
  const rows = await principalAuthorizationQuery(db, arn, accessKeyId ?? '').execute();
  return toPrincipalAuthorization(arn, rows as PrincipalAuthorizationRow[]);
}

export async function listPrincipalsPage(db: Db, limit: number, after?: PrincipalListPosition): Promise<Page<PrincipalRecord>> {
  const size = Math.max(1, Math.floor(limit));
  let query = db.selectFrom('principals').selectAll();
  if (after) query = query.where('arn', '>', after.arn);
  const rows = await query.orderBy('arn').limit(size + 1).execute();
  const page = rows.slice(0, size);
  const arns = page.map((r) => r.arn);
  const roleRows =
    arns.length === 0 ? [] : await db.selectFrom('principal_roles').selectAll().where('principal_arn', 'in', arns).orderBy('role').execute();
  const roles = new Map<string, string[]>();
  for (const r of roleRows) roles.set(r.principal_arn, [...(roles.get(r.principal_arn) ?? []), r.role]);
  const items = page.map((row) => rowToPrincipal(row, roles.get(row.arn) ?? []));
  return { items, more: rows.length > page.length };
}

export async function countPrincipals(db: Db, role?: PrincipalRole): Promise<number> {
  const query =
    role === undefined
      ? db.selectFrom('principals').select((eb) => eb.fn.countAll().as('n'))
      : db.selectFrom('principal_roles').select((eb) => eb.fn.countAll().as('n')).where('role', '=', role);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/** Runs `fn` in the caller's transaction, or in one of its own. */
function atomically<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

async function principalExists(db: Db, arn: string): Promise<boolean> {
  return (await db.selectFrom('principals').select('arn').where('arn', '=', arn).executeTakeFirst()) !== undefined;
}

export function setPrincipalRoles(db: Db, arn: string, roles: PrincipalRole[]): Promise<boolean> {
  return atomically(db, async (tx) => {
    if (!(await principalExists(tx, arn))) return false;
    await tx.deleteFrom('principal_roles').where('principal_arn', '=', arn).execute();
    const unique = [...new Set(roles)];
    if (unique.length > 0)
      await tx
        .insertInto('principal_roles')
        .values(unique.map((role) => ({ principal_arn: arn, role })))
        .execute();
    return true;
  });
}

export function deletePrincipal(db: Db, arn: string, now: Date): Promise<boolean> {
  return atomically(db, async (tx) => {
    if (!(await principalExists(tx, arn))) return false;
    // Approvals belong to this principal, not to its ARN: a principal created again under the
    // same name must neither use the requests it opened nor count the votes it cast. Its open
    // requests are rejected; its votes on open requests go (an approved one is counted again
    // when used, and no longer covers its rules).
    const open = tx.selectFrom('approval_requests').select('request_id').where('status', 'in', ['Pending', 'Approved']);
    await tx.deleteFrom('approval_votes').where('approver_arn', '=', arn).where('request_id', 'in', open).execute();
    await tx
      .updateTable('approval_requests')
      .set({ status: 'Rejected', decided_at: now.getTime() })
      .where('requester_arn', '=', arn)
      .where('status', 'in', ['Pending', 'Approved'])
      .execute();
    // The revision bump makes a concurrent read-modify-write of one of these keys fail its
    // optimistic check instead of writing the old owner back.
    await tx
      .updateTable('keys')
      .set({ owner_arn: null, revision: sql<number>`revision + 1` })
      .where('owner_arn', '=', arn)
      .execute();
    await tx.deleteFrom('access_keys').where('principal_arn', '=', arn).execute();
    await tx.deleteFrom('principal_roles').where('principal_arn', '=', arn).execute();
    await tx.deleteFrom('principal_policies').where('principal_arn', '=', arn).execute();
    await tx.deleteFrom('principal_tags').where('principal_arn', '=', arn).execute();
    await tx.deleteFrom('principals').where('arn', '=', arn).execute();
    return true;
  });
}

export async function putPrincipalPolicy(db: Db, policy: IdentityPolicyRecord): Promise<void> {
  await db
    .insertInto('principal_policies')
    .values({
      principal_arn: policy.principalArn,
      policy_name: policy.policyName,
      document: policy.document,
      created_at: policy.createdAt.getTime(),
      updated_at: policy.updatedAt.getTime(),
    })
    .onConflict((oc) =>
      oc.columns(['principal_arn', 'policy_name']).doUpdateSet((eb) => ({
        document: eb.ref('excluded.document'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

export async function deletePrincipalPolicy(db: Db, arn: string, policyName: string): Promise<boolean> {
  const result = await db
    .deleteFrom('principal_policies')
    .where('principal_arn', '=', arn)
    .where('policy_name', '=', policyName)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function listPrincipalPolicies(db: Db, arn: string): Promise<IdentityPolicyRecord[]> {
  const rows = await db.selectFrom('principal_policies').selectAll().where('principal_arn', '=', arn).orderBy('policy_name').execute();
  return rows.map((r) => ({
    principalArn: r.principal_arn,
    policyName: r.policy_name,
    document: r.document,
    createdAt: new Date(Number(r.created_at)),
    updatedAt: new Date(Number(r.updated_at)),
  }));
}

export async function putPrincipalTags(db: Db, arn: string, tags: Tag[]): Promise<void> {
  if (tags.length === 0) return;
  const byKey = new Map(tags.map((t) => [t.TagKey, t.TagValue]));
  await db
    .insertInto('principal_tags')
    .values([...byKey].map(([tag_key, tag_value]) => ({ principal_arn: arn, tag_key, tag_value })))
    .onConflict((oc) => oc.columns(['principal_arn', 'tag_key']).doUpdateSet((eb) => ({ tag_value: eb.ref('excluded.tag_value') })))
    .execute();
}

export async function deletePrincipalTags(db: Db, arn: string, tagKeys: string[]): Promise<void> {
  if (tagKeys.length === 0) return;
  await db.deleteFrom('principal_tags').where('principal_arn', '=', arn).where('tag_key', 'in', tagKeys).execute();
}

export async function listAccessKeys(db: Db, principalArn: string): Promise<AccessKeySummary[]> {
  const rows = await db
    .selectFrom('access_keys')
    .select(['access_key_id', 'status', 'created_at'])
    .where('principal_arn', '=', principalArn)
    .orderBy('created_at')
    .orderBy('access_key_id')
    .execute();
  return rows.map((r) => ({
    accessKeyId: r.access_key_id,
    status: r.status === 'Active' ? 'Active' : 'Inactive',
    createdAt: new Date(Number(r.created_at)),
  }));
}

export async function deleteAccessKey(db: Db, accessKeyId: string): Promise<boolean> {
  const result = await db.deleteFrom('access_keys').where('access_key_id', '=', accessKeyId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function countKeysOwnedBy(db: Db, arn: string): Promise<number> {
  const row = await db
    .selectFrom('keys')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('owner_arn', '=', arn)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
