/**
 * Limits that are checked by counting and then inserting, under calls made at the same moment
 * through several stores on one database (as several nodes, or several workers, make them).
 * Each limit must hold: on PostgreSQL (READ COMMITTED) two transactions that count at once
 * each saw N-1 rows and each inserted the Nth — an access-key quota of 2 gave a principal 9 keys,
 * 100 pending approval requests became 106. On SQLite write transactions take turns, but the
 * pending-request count ran outside any transaction and overshot in one process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClusterSpec, Pkcs11ClusterTokens } from '../../src/backend/pkcs11/cluster-tokens.js';
import {
  createAccessKey,
  createPrincipal,
  generateUserId,
  MAX_ACCESS_KEYS_PER_PRINCIPAL,
  MAX_POLICIES_PER_PRINCIPAL,
  MAX_PRINCIPAL_TAGS,
  MAX_PRINCIPALS,
  putPrincipalPolicy,
  userArn,
} from '../../src/core/admin/principals.js';
import { MAX_GRANTS_PER_KEY } from '../../src/core/grants/index.js';
import { KeyStoreConnections } from '../../src/core/key-stores/connections.js';
import { MAX_CUSTOM_KEY_STORES } from '../../src/core/key-stores/rules.js';
import type { PrincipalRecord } from '../../src/core/model.js';
import { MAX_PENDING_TRANSPORT_KEYS, prepareReplica, TRANSPORT_KEY_VALIDITY_MS, transportKeyShare } from '../../src/core/multi-region/prepare-replica.js';
import { createCustomKeyStore } from '../../src/core/operations/create-custom-key-store.js';
import { createGrant } from '../../src/core/operations/create-grant.js';
import { rotateKeyOnDemand } from '../../src/core/operations/rotate-key-on-demand.js';
import { MAX_ON_DEMAND_ROTATIONS } from '../../src/core/operations/rotation.js';
import { updateAlias } from '../../src/core/operations/update-alias.js';
import { tagPrincipal } from '../../src/core/admin/tag-principal.js';
import { putQuorumRule } from '../../src/core/quorum/operations/put-quorum-rule.js';
import { enforceQuorum } from '../../src/core/quorum/index.js';
import { MAX_PENDING_APPROVAL_REQUESTS, MAX_QUORUM_RULES, type ApprovalRequestRecord } from '../../src/core/quorum/quorum.js';
import { createAlias } from '../../src/core/operations/create-alias.js';
import { MAX_ALIASES_PER_KEY } from '../../src/core/operations/alias-rules.js';
import { tagResource } from '../../src/core/operations/tag-resource.js';
import { MAX_TAGS_PER_KEY } from '../../src/core/operations/tag-names.js';
import type { KmsDeps } from '../../src/core/operation.js';
import type { KeyBackend, MetadataStore } from '../../src/core/ports.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { describeWithPostgres } from '../store/postgres-describe.js';
import { alias, key, version } from '../store/fixtures.js';
import { createTestCluster } from '../support/clusters.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../support/kms-deps.js';
import { RecordingLogger, tokenConfig } from '../backend/pkcs11/helpers.js';

/** Calls made at once, spread over the nodes. */
const CALLS = 8;
const NOW = new Date(1_800_000_100_000);

let kms: TestKms;
beforeAll(async () => {
  kms = await createTestKms();
});
afterAll(async () => kms?.close());

/**
 * The run's backend, except that each secret sealed waits until {@link CALLS} have been: the
 * token seals one at a time, which would otherwise spread the calls' transactions out in time.
 */
function sealingTogether(backend: KeyBackend): KeyBackend {
  const wrapped = Object.create(backend) as KeyBackend;
  wrapped.sealSecret = async (secret) => {
    const sealed = await backend.sealSecret(secret);
    await barrier();
    return sealed;
  };
  return wrapped;
}

/**
 * The node, except that each call's transaction starts once {@link CALLS} have asked for one: what
 * comes before it (resolving the key, a first read on each node) would otherwise spread them out.
 */
function transactingTogether(store: MetadataStore): MetadataStore {
  const wrapped = Object.create(store) as MetadataStore;
  wrapped.transaction = async (fn) => {
    await barrier();
    return store.transaction(fn);
  };
  return wrapped;
}
let waiting: Array<() => void> = [];
function barrier(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (waiting.length < CALLS) return;
    for (const release of waiting) release();
    waiting = [];
  });
}

let sequence = 0;
const unique = (prefix: string) => `${prefix}${process.pid.toString(36)}${(++sequence).toString(36)}`;

/** Every call, each on the next node; the count of those that succeeded. */
async function atOnce(nodes: MetadataStore[], call: (store: MetadataStore, i: number) => Promise<unknown>, refusal = 'LimitExceededException'): Promise<number> {
  const results = await Promise.allSettled(Array.from({ length: CALLS }, (_, i) => call(nodes[i % nodes.length]!, i)));
  for (const r of results) if (r.status === 'rejected') expect((r.reason as { name?: string }).name, String(r.reason)).toBe(refusal);
  return results.filter((r) => r.status === 'fulfilled').length;
}

/**
 * The run's backend, except that every transport key pair is the one the token made first: eight
 * RSA-3072 key generations at once take SoftHSM2 longer than the call's timeout on a loaded
 * machine, and what is raced here is the count, not the HSM.
 */
function oneKeyPair(backend: KeyBackend): KeyBackend {
  const wrapped = Object.create(backend) as KeyBackend;
  let pair: ReturnType<KeyBackend['createWrappingKeyPair']> | undefined;
  wrapped.createWrappingKeyPair = (spec) => (pair ??= backend.createWrappingKeyPair(spec));
  return wrapped;
}
let transportBackend: KeyBackend | undefined;

const ROOT_ARN = `arn:aws:iam::${TEST_SETTINGS.accountId}:root`;

/** Several nodes on one database, and a way to fill it up to a limit in a test's time. */
interface Deployment {
  nodes: MetadataStore[];
  /** Inserts the rows straight into the database's table: a limit's boundary (49,999 grants through the store take minutes). */
  insertRows(table: string, columns: string[], rows: Array<Array<string | number>>): Promise<void>;
  close(): Promise<void>;
}

function describeLimits(name: string, open: () => Promise<Deployment>): void {
  describe(`count-then-insert limits under concurrent calls (${name})`, () => {
    let deployment: Deployment;
    let nodes: MetadataStore[];
    const depsOn = (store: MetadataStore): KmsDeps => ({ ...kms.deps, store });
    beforeAll(async () => {
      deployment = await open();
      nodes = deployment.nodes;
    }, 60_000);
    afterAll(async () => deployment?.close());

    it('gives a principal no more than its access-key quota', async () => {
      // Rounds: the first also opens the pools' connections, which spreads its calls out.
      for (let round = 0; round < 3; round++) {
        const { arn } = await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('keys'));
        const principal = (await nodes[0]!.getPrincipal(arn))!;
        const created = await atOnce(nodes, (store) => createAccessKey(store, sealingTogether(kms.backend), principal));
        expect(await nodes[0]!.listAccessKeys(arn)).toHaveLength(MAX_ACCESS_KEYS_PER_PRINCIPAL);
        expect(created).toBe(MAX_ACCESS_KEYS_PER_PRINCIPAL - 1);
      }
    });

    it('gives a principal no more than its identity-policy quota', async () => {
      const { arn } = await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('policies'));
      const principal = (await nodes[0]!.getPrincipal(arn))!;
      const document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}';
      for (let i = 0; i < MAX_POLICIES_PER_PRINCIPAL - 1; i++) await putPrincipalPolicy(nodes[0]!, principal, `p${i}`, document);
      const added = await atOnce(nodes, (store, i) => putPrincipalPolicy(store, principal, `racing${i}`, document));
      expect(await nodes[0]!.listPrincipalPolicies(arn)).toHaveLength(MAX_POLICIES_PER_PRINCIPAL);
      expect(added).toBe(1);
    });

    it('keeps a key to its alias quota', async () => {
      const k = key();
      await nodes[0]!.insertKey(k);
      for (let i = 0; i < MAX_ALIASES_PER_KEY - 1; i++) await nodes[0]!.insertAlias(alias(`alias/${unique('a')}`, k.keyId));
      const added = await atOnce(nodes, (store) => createAlias.run(depsOn(store), kms.ctx, { AliasName: `alias/${unique('racing')}`, TargetKeyId: k.keyId }));
      expect(await nodes[0]!.countAliases(k.keyId)).toBe(MAX_ALIASES_PER_KEY);
      expect(added).toBe(1);
    });

    it('keeps a key to its tag quota', async () => {
      const k = key();
      await nodes[0]!.insertKey(k);
      await nodes[0]!.putTags(k.keyId, Array.from({ length: MAX_TAGS_PER_KEY - 1 }, (_, i) => ({ TagKey: `t${i}`, TagValue: 'v' })));
      const added = await atOnce(nodes, (store, i) => tagResource.run(depsOn(store), kms.ctx, { KeyId: k.keyId, Tags: [{ TagKey: `racing${i}`, TagValue: 'v' }] }), 'TagException');
      expect(await nodes[0]!.getTags(k.keyId)).toHaveLength(MAX_TAGS_PER_KEY);
      expect(added).toBe(1);
    });

    it('gives a principal no more than its tag quota', async () => {
      const { arn } = await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('tagged'));
      await nodes[0]!.putPrincipalTags(arn, Array.from({ length: MAX_PRINCIPAL_TAGS - 1 }, (_, i) => ({ TagKey: `t${i}`, TagValue: 'v' })));
      const name = arn.slice(arn.lastIndexOf('/') + 1);
      const added = await atOnce(nodes, (store, i) => tagPrincipal.run(depsOn(store), kms.ctx, { UserName: name, Tags: [{ TagKey: `racing${i}`, TagValue: 'v' }] }));
      expect((await nodes[0]!.getPrincipalAuthorization(arn))!.tags).toHaveLength(MAX_PRINCIPAL_TAGS);
      expect(added).toBe(1);
    });

    it('keeps one quorum rule per action when several nodes put it at once', async () => {
      const approver = (await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('ruler'))).arn;
      const action = 'kms:DisableKeyRotation';
      await atOnce(nodes, (store) => putQuorumRule.run(depsOn(store), kms.ctx, { Action: action, MinApprovals: 1, Approvers: [approver] }));
      expect((await nodes[0]!.listQuorumRules()).filter((r) => r.action === action)).toHaveLength(1);
    });

    it('keeps a requester to its pending approval-request quota', async () => {
      const requester = (await nodes[0]!.getPrincipal((await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('requester'))).arn))!;
      const approver = (await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('approver'))).arn;
      const action = `kms:${unique('Action')}`;
      await nodes[0]!.putQuorumRule({ ruleId: unique('qr-'), action, taggedKeysOnly: false, minApprovals: 1, approvers: [approver], createdAt: NOW, updatedAt: NOW });
      for (let i = 0; i < MAX_PENDING_APPROVAL_REQUESTS - 1; i++) await nodes[0]!.insertApprovalRequest(pending(requester.arn, approver, i));
      const opened = await atOnce(nodes, (store, i) =>
        enforceQuorum({ store, settings: TEST_SETTINGS }, { caller: requester, action, operation: 'ScheduleKeyDeletion', input: { KeyId: `racing-${i}` }, now: NOW }).catch(
          (error: { name?: string }) => {
            // Opening the request is what a first attempt does: it reports the approval it needs.
            if (error.name !== 'QuorumApprovalRequiredException') throw error;
          },
        ),
      );
      expect(await nodes[0]!.countPendingApprovalRequests(requester.arn, NOW, 10 * MAX_PENDING_APPROVAL_REQUESTS)).toBe(MAX_PENDING_APPROVAL_REQUESTS);
      expect(opened).toBe(1);
    });

    it('keeps a key to its alias quota when aliases are moved to it at once', async () => {
      const [k, elsewhere] = [key(), key()];
      for (const one of [k, elsewhere]) await nodes[0]!.insertKey(one);
      for (let i = 0; i < MAX_ALIASES_PER_KEY - 1; i++) await nodes[0]!.insertAlias(alias(`alias/${unique('a')}`, k.keyId));
      const moving = Array.from({ length: CALLS }, () => `alias/${unique('moving')}`);
      for (const name of moving) await nodes[0]!.insertAlias(alias(name, elsewhere.keyId));
      const moved = await atOnce(nodes, (store, i) => updateAlias.run(depsOn(store), kms.ctx, { AliasName: moving[i]!, TargetKeyId: k.keyId }));
      expect(await nodes[0]!.countAliases(k.keyId)).toBe(MAX_ALIASES_PER_KEY);
      expect(moved).toBe(1);
    });

    it('keeps a key to its grant quota (50,000, as AWS)', async () => {
      const k = key();
      await nodes[0]!.insertKey(k);
      await deployment.insertRows(
        'grants',
        ['grant_id', 'key_id', 'grantee_principal', 'issuing_account', 'creator_principal', 'operations', 'creation_date'],
        Array.from({ length: MAX_GRANTS_PER_KEY - 1 }, () => [randomBytes(32).toString('hex'), k.keyId, ROOT_ARN, ROOT_ARN, ROOT_ARN, ',Decrypt,', NOW.getTime()]),
      );
      expect(await nodes[0]!.countGrants(k.keyId)).toBe(MAX_GRANTS_PER_KEY - 1);
      const granted = await atOnce(nodes, (store) => createGrant.run(depsOn(transactingTogether(store)), kms.ctx, { KeyId: k.keyId, GranteePrincipal: ROOT_ARN, Operations: ['Encrypt'] }));
      expect(await nodes[0]!.countGrants(k.keyId)).toBe(MAX_GRANTS_PER_KEY);
      expect(granted).toBe(1);
    }, 120_000);

    it('keeps a key to its on-demand rotation quota', async () => {
      const k = key();
      await nodes[0]!.insertKey(k);
      for (let i = 0; i < MAX_ON_DEMAND_ROTATIONS - 1; i++) await nodes[0]!.insertKeyVersion(version(k.keyId, { rotationType: 'ON_DEMAND' }));
      const rotated = await atOnce(nodes, (store) => rotateKeyOnDemand.run(depsOn(store), kms.ctx, { KeyId: k.keyId }));
      expect((await nodes[0]!.listKeyVersions(k.keyId)).filter((v) => v.rotationType === 'ON_DEMAND')).toHaveLength(MAX_ON_DEMAND_ROTATIONS);
      expect(rotated).toBe(1);
    });

    it('keeps the service to its quorum-rule quota', async () => {
      const approver = (await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('rules'))).arn;
      // Rules for actions nothing calls, removed afterwards: the other tests run unguarded.
      for (let i = (await nodes[0]!.listQuorumRules()).length; i < MAX_QUORUM_RULES - 1; i++)
        await nodes[0]!.putQuorumRule({ ruleId: unique('qr-filler-'), action: `hsmkms:Filler${i}`, taggedKeysOnly: false, minApprovals: 1, approvers: [approver], createdAt: NOW, updatedAt: NOW });
      const keys = Array.from({ length: CALLS }, () => key());
      for (const k of keys) await nodes[0]!.insertKey(k);
      try {
        const put = await atOnce(nodes, (store, i) =>
          putQuorumRule.run(depsOn(store), kms.ctx, { Action: 'kms:UpdateKeyDescription', KeyId: keys[i]!.keyId, MinApprovals: 1, Approvers: [approver] }),
        );
        expect(await nodes[0]!.listQuorumRules()).toHaveLength(MAX_QUORUM_RULES);
        expect(put).toBe(1);
      } finally {
        for (const rule of await nodes[0]!.listQuorumRules())
          if (rule.action === 'kms:UpdateKeyDescription' || rule.action.startsWith('hsmkms:Filler')) await nodes[0]!.deleteQuorumRule(rule.ruleId);
      }
    }, 60_000);

    it('keeps the account to its custom key store quota', async () => {
      // Each store needs a cluster of its own: as many cluster ids as calls, all naming one token (a
      // store is made DISCONNECTED, nothing connects to it here).
      const cluster = await createTestCluster();
      const ids = Array.from({ length: CALLS }, () => unique('race-cluster-'));
      const clusters = new Pkcs11ClusterTokens({
        configured: ids.map((id) => parseClusterSpec(`${id}=${process.env.HSMKMS_TEST_MODULE!}:${cluster.label}`)),
        defaultToken: tokenConfig(),
      });
      const keyStores = new KeyStoreConnections({ store: nodes[0]!, backend: kms.backend, clusters, clock: kms.clock, logger: new RecordingLogger(), checkIntervalMs: 0 });
      try {
        for (let i = (await nodes[0]!.keyStores.countCustomKeyStores()); i < MAX_CUSTOM_KEY_STORES - 1; i++)
          await nodes[0]!.keyStores.insertCustomKeyStore({
            customKeyStoreId: `cks-${randomBytes(9).toString('hex').slice(0, 17)}`,
            name: unique('filler'),
            type: 'AWS_CLOUDHSM',
            creationDate: NOW,
            connectionState: 'DISCONNECTED',
            cloudHsmClusterId: unique('filler-cluster-'),
            sealedPassword: new Uint8Array(16),
            revision: 1,
          });
        const created = await atOnce(nodes, (store, i) =>
          createCustomKeyStore.run({ ...depsOn(store), keyStores }, kms.ctx, { CustomKeyStoreName: unique('racing'), CloudHsmClusterId: ids[i]!, KeyStorePassword: cluster.userPin }),
        );
        expect(await nodes[0]!.keyStores.countCustomKeyStores()).toBe(MAX_CUSTOM_KEY_STORES);
        expect(created).toBe(1);
      } finally {
        await keyStores.close();
      }
    });

    describe('transport keys for replicas (PrepareReplica)', () => {
      const prepare = (store: MetadataStore, caller: PrincipalRecord) =>
        prepareReplica.run({ ...depsOn(store), backend: (transportBackend ??= oneKeyPair(kms.backend)) }, { requestId: 'test-request', principal: caller }, {
          KeyId: `mrk-${randomBytes(16).toString('hex')}`,
          KeySpec: 'SYMMETRIC_DEFAULT',
          Replica: { KeyUsage: 'ENCRYPT_DECRYPT', PrimaryRegion: 'eu-west-1', Regions: [] },
        });
      /** Transport keys as PrepareReplica leaves them (without the HSM's work: a cheap boundary). */
      const waiting = async (count: number, requesterArn?: string) => {
        const now = kms.clock.now();
        await nodes[0]!.transaction(async (tx) => {
          for (let i = 0; i < count; i++)
            await tx.multiRegion.insertTransportKey({
            transportKeyId: randomUUID(),
            keyId: `mrk-${randomBytes(16).toString('hex')}`,
            wrappedPrivateKey: new Uint8Array(64),
            publicKey: new Uint8Array(32),
            createdAt: now,
            expiresAt: new Date(now.getTime() + TRANSPORT_KEY_VALIDITY_MS),
              requesterArn,
            });
        });
      };
      const peer = async (region: string) =>
        (await nodes[0]!.getPrincipal(
          (await createPrincipal(nodes[0]!, kms.backend, TEST_SETTINGS, unique('peer'), ['RegionPeer'], [{ TagKey: 'hsmkms:PeerRegion', TagValue: region }])).arn,
        ))!;
      // Each test starts with none waiting: later than any expiry, every one has.
      const removeAll = () => nodes[0]!.multiRegion.deleteExpiredTransportKeys(new Date(kms.clock.now().getTime() + 2 * TRANSPORT_KEY_VALIDITY_MS));

      it('keeps the region to its transport-key quota', async () => {
        await removeAll();
        await waiting(MAX_PENDING_TRANSPORT_KEYS - 1);
        const prepared = await atOnce(nodes, (store) => prepare(store, kms.ctx.principal));
        expect(await nodes[0]!.multiRegion.countTransportKeys(kms.clock.now())).toBe(MAX_PENDING_TRANSPORT_KEYS);
        expect(prepared).toBe(1);
        await removeAll();
      }, 120_000);

      it('keeps each peer principal to its share of them, and one that fills its share leaves the others theirs', async () => {
        await removeAll();
        const [filling, other] = [await peer('eu-west-1'), await peer('eu-west-1')];
        const share = transportKeyShare(await nodes[0]!.countPrincipals('RegionPeer'));
        expect(share).toBeLessThan(MAX_PENDING_TRANSPORT_KEYS);
        await waiting(share - 1, filling.arn);
        const prepared = await atOnce(nodes, (store) => prepare(store, filling));
        expect(await nodes[0]!.multiRegion.countTransportKeys(kms.clock.now(), filling.arn)).toBe(share);
        expect(prepared).toBe(1);
        await expect(prepare(nodes[1 % nodes.length]!, filling)).rejects.toMatchObject({
          name: 'LimitExceededException',
          message: expect.stringContaining(`its share of the ${MAX_PENDING_TRANSPORT_KEYS} transport keys`),
        });
        await expect(prepare(nodes[0]!, other)).resolves.toMatchObject({ TransportKeyId: expect.any(String) });
        expect(await nodes[0]!.multiRegion.countTransportKeys(kms.clock.now(), other.arn)).toBe(1);
        await removeAll();
      }, 120_000);
    });

    // Last: the account is full of principals afterwards.
    it('keeps the account to its principal quota', async () => {
      const names = Array.from({ length: MAX_PRINCIPALS - 1 - (await nodes[0]!.countPrincipals()) }, () => unique('filler'));
      await deployment.insertRows(
        'principals',
        ['arn', 'name', 'account_id', 'created_at', 'user_id'],
        names.map((name) => [userArn(TEST_SETTINGS, name), name, TEST_SETTINGS.accountId, NOW.getTime(), generateUserId()]),
      );
      const made = await atOnce(nodes, (store) => createPrincipal(store, sealingTogether(kms.backend), TEST_SETTINGS, unique('racing')));
      expect(await nodes[0]!.countPrincipals()).toBe(MAX_PRINCIPALS);
      expect(made).toBe(1);
    }, 120_000);
  });
}

function pending(requesterArn: string, approver: string, i: number): ApprovalRequestRecord {
  return {
    requestId: `ar-${unique('').padStart(24, '0')}${i.toString(16).padStart(8, '0')}`,
    requesterArn,
    operation: 'ScheduleKeyDeletion',
    action: 'kms:ScheduleKeyDeletion',
    parametersHash: i.toString(16).padStart(64, '0'),
    parameters: '{}',
    requirements: [{ ruleId: 'qr-earlier', minApprovals: 1, approvers: [approver] }],
    status: 'Pending',
    createdAt: NOW,
    expiresAt: new Date(NOW.getTime() + 3_600_000),
    votes: [],
  };
}

// One connection: better-sqlite3 waits for another connection's write lock synchronously, so
// connections of one process cannot interleave (workers are processes, and BEGIN IMMEDIATE
// makes theirs take turns).
describeLimits('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-limits-'));
  const path = join(dir, 'hsmkms.sqlite');
  // Throwaway data: commits need not wait for the disk.
  const store = await openSqliteStore({ path, synchronous: 'normal' });
  return {
    nodes: [store],
    async insertRows(table, columns, rows) {
      const sqlite = new Database(path);
      try {
        const insert = sqlite.prepare(`insert into ${table} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`);
        sqlite.transaction(() => {
          for (const row of rows) insert.run(...row);
        })();
      } finally {
        sqlite.close();
      }
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeWithPostgres('PostgreSQL', (connectionString) => {
  describeLimits('PostgreSQL, three nodes with pools of their own', async () => {
    const schema = `limits_${process.pid}_${Date.now().toString(36)}`;
    const nodes: MetadataStore[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await openPostgresStore({ connectionString: connectionString(), schema, maxConnections: 4 }));
    return {
      nodes,
      async insertRows(table, columns, rows) {
        const client = new pg.Client({ connectionString: connectionString() });
        await client.connect();
        try {
          // Without the change feed's notifications (in this transaction only): 50,000 of them
          // would keep every node's event loop busy long enough to spread out the calls raced next.
          await client.query('begin');
          await client.query(`alter table "${schema}".${table} disable trigger user`);
          // A few thousand rows a statement: PostgreSQL takes at most 65,535 parameters.
          const perStatement = Math.floor(60_000 / columns.length);
          for (let start = 0; start < rows.length; start += perStatement) {
            const chunk = rows.slice(start, start + perStatement);
            const values = chunk.map((_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
            await client.query(`insert into "${schema}".${table} (${columns.join(', ')}) values ${values}`, chunk.flat());
          }
          await client.query(`alter table "${schema}".${table} enable trigger user`);
          await client.query('commit');
        } finally {
          await client.end();
        }
      },
      async close() {
        for (const node of nodes) await node.close();
      },
    };
  });
});
