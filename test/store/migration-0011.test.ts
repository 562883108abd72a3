/**
 * Migration 0011 on a database written by the previous version: users get a unique id (the root
 * none: its `aws:userid` is the account id), and open approval requests remember their
 * approvers, so that ListApprovalRequests filters in the query.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { openSqliteStore, sqliteFlavor } from '../../src/store/sqlite/index.js';
import { initialSchema } from '../../src/store/sql/migrations/0001-initial.js';
import { authorizationSchema } from '../../src/store/sql/migrations/0002-authorization.js';
import { grantsAndQuorumSchema } from '../../src/store/sql/migrations/0003-grants-and-quorum.js';
import { customKeyStoresSchema } from '../../src/store/sql/migrations/0005-custom-key-stores.js';
import { certificateAuthoritySchema } from '../../src/store/sql/migrations/0006-certificate-authority.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A database as the version before 0011 left it, with two principals and an open request. */
async function previousVersionDatabase(path: string): Promise<void> {
  const sqlite = new Database(path);
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrations: Record<string, Migration> = {
    '0001-initial': initialSchema(sqliteFlavor),
    '0002-authorization': authorizationSchema(sqliteFlavor),
    '0003-grants-and-quorum': grantsAndQuorumSchema(sqliteFlavor),
    '0005-custom-key-stores': customKeyStoresSchema(sqliteFlavor),
    '0006-certificate-authority': certificateAuthoritySchema(sqliteFlavor),
  };
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  expect(error).toBeUndefined();
  const insert = sqlite.prepare('insert into principals (arn, name, account_id, created_at) values (?, ?, ?, ?)');
  insert.run('arn:aws:iam::111122223333:root', 'root', '111122223333', 1);
  insert.run('arn:aws:iam::111122223333:user/alice', 'alice', '111122223333', 2);
  insert.run('arn:aws:iam::111122223333:user/bob', 'bob', '111122223333', 3);
  sqlite
    .prepare(
      'insert into approval_requests (request_id, requester_arn, operation, action, key_arn, parameters_hash, parameters, requirements, status, created_at, expires_at, decided_at) values (?, ?, ?, ?, null, ?, ?, ?, ?, ?, ?, null)',
    )
    .run(
      'ar-00000000000000000000000000000001',
      'arn:aws:iam::111122223333:user/alice',
      'ScheduleKeyDeletion',
      'kms:ScheduleKeyDeletion',
      'f'.repeat(64),
      '{}',
      JSON.stringify([{ ruleId: 'qr-1', minApprovals: 1, approvers: ['arn:aws:iam::111122223333:user/bob'] }]),
      'Pending',
      Date.now(),
      Date.now() + 3_600_000,
    );
  await db.destroy();
}

it('gives existing users a unique id and existing requests their approvers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-migration-'));
  dirs.push(dir);
  const path = join(dir, 'hsmkms.sqlite');
  await previousVersionDatabase(path);

  const store = await openSqliteStore({ path });
  try {
    const alice = await store.getPrincipal('arn:aws:iam::111122223333:user/alice');
    const bob = await store.getPrincipal('arn:aws:iam::111122223333:user/bob');
    expect(alice?.userId).toMatch(/^AIDA[A-Z2-7]{17}$/);
    expect(bob?.userId).toMatch(/^AIDA[A-Z2-7]{17}$/);
    expect(alice?.userId).not.toBe(bob?.userId);
    expect((await store.getPrincipal('arn:aws:iam::111122223333:root'))?.userId).toBeUndefined();
    // The authorizer's one-query read sees it too.
    expect((await store.getPrincipalAuthorization('arn:aws:iam::111122223333:user/alice'))?.principal.userId).toBe(alice?.userId);

    const now = new Date();
    const visible = async (arn: string) => (await store.listApprovalRequests({ now, limit: 10, visibleTo: arn })).items.map((r) => r.requestId);
    expect(await visible('arn:aws:iam::111122223333:user/bob')).toEqual(['ar-00000000000000000000000000000001']);
    expect(await visible('arn:aws:iam::111122223333:user/alice')).toEqual(['ar-00000000000000000000000000000001']);
    expect(await visible('arn:aws:iam::111122223333:user/carol')).toEqual([]);
  } finally {
    await store.close();
  }
});
