/**
 * The MetadataStore contract against a real PostgreSQL server (see postgres-server.ts); each
 * test gets a schema of its own. Without a server the suite is reported as skipped, with why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { PostgresLeaderLease } from '../../src/store/postgres/locks.js';
import { describeMetadataStoreContract, expectOwnCopies } from './metadata-store-contract.js';
import { findPostgres, startPostgres, type TestPostgres } from './postgres-server.js';
import { key, version } from './fixtures.js';

const found = findPostgres();
if ('missing' in found) console.warn(`PostgreSQL store tests skipped: ${found.missing}`);

describe.skipIf('missing' in found)('PostgreSQL store', () => {
  let server: TestPostgres;
  let n = 0;
  const run = `t${process.pid}_${Date.now().toString(36)}`;
  beforeAll(() => {
    server = startPostgres();
  }, 60_000);
  afterAll(() => server?.stop());

  describeMetadataStoreContract('PostgreSQL', () =>
    openPostgresStore({ connectionString: server.connectionString, schema: `${run}_${++n}`, maxConnections: 4 }),
  );

  it('gives every read from its caches (on with the change feed) its own copy', async () => {
    const store = await openPostgresStore({ connectionString: server.connectionString, schema: `${run}_copies`, changeFeed: true });
    try {
      await expectOwnCopies(store);
    } finally {
      await store.close();
    }
  });

  it('migrates once when reopened, and keeps its data', async () => {
    const schema = `${run}_reopen`;
    const k = key({ deletionDate: new Date(1_790_000_000_007) });
    const first = await openPostgresStore({ connectionString: server.connectionString, schema });
    await first.insertKey(k);
    await first.close();
    const second = await openPostgresStore({ connectionString: server.connectionString, schema });
    expect(await second.getKey(k.keyId)).toStrictEqual(k);
    await second.close();
  });

  it('lets exactly one of two nodes win an update race on the same revision', async () => {
    const schema = `${run}_race`;
    const a = await openPostgresStore({ connectionString: server.connectionString, schema });
    const b = await openPostgresStore({ connectionString: server.connectionString, schema });
    const k = key();
    await a.insertKey(k);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).updateKey({ ...k, description: `writer ${i}`, revision: 2 })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    await a.close();
    await b.close();
  });

  it('serialises a node claiming a token object\'s destruction with another node\'s CreateKey withdrawing it', async () => {
    const schema = `${run}_destruction_race`;
    const a = await openPostgresStore({ connectionString: server.connectionString, schema });
    const b = await openPostgresStore({ connectionString: server.connectionString, schema });
    try {
      const record = (k: { keyId: string }) => ({
        keyId: k.keyId,
        versionId: 'cd'.repeat(32),
        keySpec: 'ECC_NIST_EDWARDS25519' as const,
        wrappedMaterial: new Uint8Array([1, 0x54, 1, 7]),
        createdAt: new Date(1_790_000_000_000),
        notBefore: new Date(1_790_000_000_000),
        attempts: 0,
      });
      // CreateKey's transaction withdraws first and inserts its key; the claim waits for it, then finds nothing.
      const created = key();
      await a.insertMaterialDestruction(record(created));
      let claim: Promise<boolean> | undefined;
      await a.transaction(async (tx) => {
        expect(await tx.withdrawMaterialDestruction(created.keyId, 'cd'.repeat(32))).toBe(true);
        claim = b.claimMaterialDestruction(created.keyId, 'cd'.repeat(32), 0, new Date(1_790_000_030_000));
        await new Promise((r) => setTimeout(r, 200));
        await tx.insertKey(created);
      });
      expect(await claim).toBe(false);
      // The claim commits first: CreateKey's withdrawal then finds an attempt begun and must give up.
      const abandoned = key();
      await a.insertMaterialDestruction(record(abandoned));
      expect(await b.claimMaterialDestruction(abandoned.keyId, 'cd'.repeat(32), 0, new Date(1_790_000_030_000))).toBe(true);
      expect(await a.transaction((tx) => tx.withdrawMaterialDestruction(abandoned.keyId, 'cd'.repeat(32)))).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('finds nothing for an id holding U+0000 (which PostgreSQL text cannot hold) and refuses to store one', async () => {
    const store = await openPostgresStore({ connectionString: server.connectionString, schema: `${run}_nul` });
    try {
      expect(await store.getKey('a\u0000b')).toBeUndefined();
      expect(await store.getAlias('alias/\u0000')).toBeUndefined();
      await store.deleteAlias('alias/\u0000');
      await expect(store.insertKey(key({ description: 'bad\u0000' }))).rejects.toMatchObject({ type: 'ValidationException' });
    } finally {
      await store.close();
    }
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await expect(openPostgresStore({ connectionString: server.connectionString, schema: 'x; drop table keys' })).rejects.toThrow(/schema name/);
  });

  /**
   * What each migration that a test runs again changed, to undo (newest first): a new migration
   * adds its row here, so that those tests undo it before the one they run again.
   */
  const UNDO: ReadonlyArray<[name: string, statements: (schema: string) => string[]]> = [
    [
      '0025-certificate-partial-indexes',
      (schema) => [
        `drop index "${schema}".ca_certificates_responders`,
        `drop index "${schema}".ca_certificates_revoked`,
        `create index ca_certificates_revoked on "${schema}".ca_certificates (ca_name, issuer, revoked_at)`,
        `create index ca_certificates_by_kind on "${schema}".ca_certificates (ca_name, kind, not_after)`,
      ],
    ],
    ['0024-material-destructions', (schema) => [`drop table "${schema}".material_destructions`]],
    ['0023-transport-key-requesters', (schema) => [`alter table "${schema}".transport_keys drop column requester_arn`]],
    // 0022's index goes with 0016's table.
    ['0022-pending-material-expiry', () => []],
    ['0020-approval-request-coverage', (schema) => [`alter table "${schema}".approval_requests drop column withheld_parameters, drop column hashed_keys`]],
    ['0016-imported-key-materials', (schema) => [`drop table "${schema}".imported_key_materials`]],
  ];

  /** Takes the schema back to before migration `from` (e.g. `0016`), undoing the later ones first; the rows stay. */
  async function undoMigrationsFrom(schema: string, from: string): Promise<void> {
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    try {
      for (const [name, statements] of UNDO.filter(([name]) => name >= from)) {
        for (const statement of statements(schema)) await client.query(statement);
        await client.query(`delete from "${schema}".kysely_migration where name = $1`, [name]);
      }
    } finally {
      await client.end();
    }
  }

  it('runs migration 0016 over keys imported before it: each gets a record of its current material', async () => {
    const schema = `${run}_m0016`;
    const imported = key({ origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: new Date('2027-01-01T00:00:00.123Z') });
    const importedVersion = version(imported.keyId, { createdAt: new Date('2026-06-01T00:00:00.456Z') });
    imported.currentVersionId = importedVersion.versionId;
    const deleted = key({ origin: 'EXTERNAL', keyState: 'PendingImport', currentVersionId: 'ab'.repeat(32) });
    const first = await openPostgresStore({ connectionString: server.connectionString, schema });
    await first.insertKey(imported);
    await first.insertKeyVersion(importedVersion);
    await first.insertKey(deleted);
    await first.close();
    // Back to the schema before 0016, with those keys in it.
    await undoMigrationsFrom(schema, '0016');
    const second = await openPostgresStore({ connectionString: server.connectionString, schema });
    try {
      expect(await second.listImportedMaterials(imported.keyId)).toEqual([
        {
          keyId: imported.keyId,
          versionId: importedVersion.versionId,
          expirationModel: 'KEY_MATERIAL_EXPIRES',
          validTo: imported.validTo,
          pendingRotation: false,
          importedAt: importedVersion.createdAt,
        },
      ]);
      expect(await second.listImportedMaterials(deleted.keyId)).toEqual([
        { keyId: deleted.keyId, versionId: deleted.currentVersionId, pendingRotation: false, importedAt: deleted.creationDate },
      ]);
    } finally {
      await second.close();
    }
  });

  it('runs migration 0023 over transport keys made before it: they keep counting, with no requester', async () => {
    const schema = `${run}_m0023`;
    const now = new Date(1_790_000_000_000);
    const earlier = {
      transportKeyId: 'tk-before-0023',
      keyId: `mrk-${'b'.repeat(32)}`,
      wrappedPrivateKey: new Uint8Array(64).fill(1),
      publicKey: new Uint8Array(32).fill(2),
      createdAt: now,
      expiresAt: new Date(now.getTime() + 600_000),
    };
    const first = await openPostgresStore({ connectionString: server.connectionString, schema });
    await first.multiRegion.insertTransportKey(earlier);
    await first.close();
    // Back to the schema before 0023, with that transport key in it.
    await undoMigrationsFrom(schema, '0023');
    const second = await openPostgresStore({ connectionString: server.connectionString, schema });
    try {
      const peer = 'arn:aws:iam::111122223333:user/replicator-eu-west-1';
      expect(await second.multiRegion.countTransportKeys(now)).toBe(1);
      expect(await second.multiRegion.countTransportKeys(now, peer)).toBe(0);
      await second.multiRegion.insertTransportKey({ ...earlier, transportKeyId: 'tk-after-0023', requesterArn: peer });
      expect(await second.multiRegion.countTransportKeys(now, peer)).toBe(1);
      expect(await second.multiRegion.takeTransportKey(earlier.transportKeyId)).toStrictEqual(earlier);
    } finally {
      await second.close();
    }
  });

  // Stops the lease connection's server process (SIGSTOP): only for a cluster this process runs.
  it.skipIf('url' in found)('counts the scheduler lease as lost when its connection stops answering', async () => {
    const lease = new PostgresLeaderLease({ connectionString: server.connectionString }, undefined, 200);
    const probe = new pg.Client({ connectionString: server.connectionString });
    await probe.connect();
    let pid: number | undefined;
    try {
      expect(await lease.acquire()).toBe(true);
      const { rows } = await probe.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'hsmkms-scheduler'`);
      expect(rows).toHaveLength(1);
      pid = rows[0]!.pid;
      process.kill(pid, 'SIGSTOP');
      const started = Date.now();
      expect(await lease.stillHeld()).toBe(false);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
      await lease.release();
      await probe.end();
    }
  });
});
