/**
 * Limits that are checked by counting and then inserting, under calls made at the same moment
 * through several stores on one database (as several nodes, or several workers, make them).
 * Each limit must hold: on PostgreSQL (READ COMMITTED) two transactions that count at once
 * each saw N-1 rows and each inserted the Nth — an access-key quota of 2 gave a principal 9 keys,
 * 100 pending approval requests became 106. On SQLite write transactions take turns, but the
 * pending-request count ran outside any transaction and overshot in one process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessKey, createPrincipal, MAX_ACCESS_KEYS_PER_PRINCIPAL, MAX_POLICIES_PER_PRINCIPAL, MAX_PRINCIPAL_TAGS, putPrincipalPolicy } from '../../src/core/admin/principals.js';
import { tagPrincipal } from '../../src/core/admin/tag-principal.js';
import { putQuorumRule } from '../../src/core/quorum/operations/put-quorum-rule.js';
import { enforceQuorum } from '../../src/core/quorum/index.js';
import { MAX_PENDING_APPROVAL_REQUESTS, type ApprovalRequestRecord } from '../../src/core/quorum/quorum.js';
import { createAlias } from '../../src/core/operations/create-alias.js';
import { MAX_ALIASES_PER_KEY } from '../../src/core/operations/alias-rules.js';
import { tagResource } from '../../src/core/operations/tag-resource.js';
import { MAX_TAGS_PER_KEY } from '../../src/core/operations/tag-names.js';
import type { KmsDeps } from '../../src/core/operation.js';
import type { KeyBackend, MetadataStore } from '../../src/core/ports.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { describeWithPostgres } from '../store/postgres-describe.js';
import { alias, key } from '../store/fixtures.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../support/kms-deps.js';

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

function describeLimits(name: string, openNodes: () => Promise<MetadataStore[]>): void {
  describe(`count-then-insert limits under concurrent calls (${name})`, () => {
    let nodes: MetadataStore[];
    const depsOn = (store: MetadataStore): KmsDeps => ({ ...kms.deps, store });
    beforeAll(async () => {
      nodes = await openNodes();
    }, 60_000);
    afterAll(async () => {
      for (const node of nodes ?? []) await node.close();
    });

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
describeLimits('SQLite', async () => [await openSqliteStore({ path: ':memory:' })]);

describeWithPostgres('PostgreSQL', (connectionString) => {
  describeLimits('PostgreSQL, three nodes with pools of their own', async () => {
    const schema = `limits_${process.pid}_${Date.now().toString(36)}`;
    const nodes: MetadataStore[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await openPostgresStore({ connectionString: connectionString(), schema, maxConnections: 4 }));
    return nodes;
  });
});
