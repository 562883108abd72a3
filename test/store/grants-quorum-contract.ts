/**
 * The grant and quorum part of the MetadataStore contract, run by describeMetadataStoreContract
 * for every store (SQLite, PostgreSQL) against the store of the test in progress.
 */
import { describe, expect, it } from 'vitest';
import type { GrantListPosition, GrantRecord } from '../../src/core/grants/grant.js';
import type { MetadataStore } from '../../src/core/ports.js';
import type { ApprovalRequestListPosition, ApprovalRequestRecord, QuorumRuleRecord } from '../../src/core/quorum/quorum.js';
import { StoreError } from '../../src/core/store-error.js';
import { ACCOUNT, key } from './fixtures.js';

let grantSequence = 0;
function grant(keyId: string, overrides: Partial<GrantRecord> = {}): GrantRecord {
  grantSequence += 1;
  return {
    grantId: grantSequence.toString(16).padStart(64, '0'),
    keyId,
    granteePrincipal: `arn:aws:iam::${ACCOUNT}:user/alice`,
    issuingAccount: `arn:aws:iam::${ACCOUNT}:root`,
    creatorPrincipal: `arn:aws:iam::${ACCOUNT}:user/owner`,
    operations: ['Decrypt', 'Encrypt'],
    creationDate: new Date(1_800_000_000_000 + grantSequence),
    ...overrides,
  };
}

function rule(overrides: Partial<QuorumRuleRecord> = {}): QuorumRuleRecord {
  return {
    ruleId: `qr-${(++grantSequence).toString(16).padStart(16, '0')}`,
    action: 'kms:ScheduleKeyDeletion',
    taggedKeysOnly: false,
    minApprovals: 2,
    approvers: [`arn:aws:iam::${ACCOUNT}:user/a`, `arn:aws:iam::${ACCOUNT}:user/b`],
    createdAt: new Date(1_800_000_000_000),
    updatedAt: new Date(1_800_000_000_000),
    ...overrides,
  };
}

const NOW = new Date(1_800_000_100_000);
function request(overrides: Partial<ApprovalRequestRecord> = {}): ApprovalRequestRecord {
  return {
    requestId: `ar-${(++grantSequence).toString(16).padStart(32, '0')}`,
    requesterArn: `arn:aws:iam::${ACCOUNT}:user/requester`,
    operation: 'ScheduleKeyDeletion',
    action: 'kms:ScheduleKeyDeletion',
    parametersHash: 'f'.repeat(64),
    parameters: '{"KeyId":"k"}',
    requirements: [{ ruleId: 'qr-1', minApprovals: 2, approvers: ['a', 'b'] }],
    status: 'Pending',
    createdAt: NOW,
    expiresAt: new Date(NOW.getTime() + 3_600_000),
    votes: [],
    ...overrides,
  };
}

export function describeGrantAndQuorumContract(current: () => MetadataStore): void {
  describe('grants', () => {
    it('round-trips a grant with every optional field, and one with none', async () => {
      const store = current();
      const k = key();
      await store.insertKey(k);
      const full = grant(k.keyId, {
        name: 'retry-handle',
        retiringPrincipal: `arn:aws:iam::${ACCOUNT}:user/retirer`,
        constraints: { encryptionContextSubset: { tenant: 'a', 'odd "key"': 'v,1' } },
      });
      const bare = grant(k.keyId, { operations: ['DescribeKey'] });
      await store.insertGrant(full);
      await store.insertGrant(bare);
      expect(await store.getGrant(full.grantId)).toStrictEqual(full);
      expect(await store.getGrant(bare.grantId)).toStrictEqual(bare);
      expect(await store.getGrant('0'.repeat(64))).toBeUndefined();
      const error = await store.insertGrant(full).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ kind: 'conflict', record: 'grant', subject: full.grantId });
    });

    it('finds a grantee\'s grants by operation, in grant-id pages', async () => {
      const store = current();
      const k = key();
      await store.insertKey(k);
      const bob = `arn:aws:iam::${ACCOUNT}:user/bob`;
      const grants = [
        grant(k.keyId, { granteePrincipal: bob, operations: ['Decrypt'] }),
        grant(k.keyId, { granteePrincipal: bob, operations: ['Encrypt', 'ReEncryptFrom'] }),
        grant(k.keyId, { granteePrincipal: bob, operations: ['Decrypt', 'GenerateDataKey'] }),
        grant(k.keyId, { operations: ['Decrypt'] }),
      ];
      for (const g of grants) await store.insertGrant(g);
      const decrypt = await store.listGrantsForGrantee(k.keyId, bob, 'Decrypt', 10);
      expect(decrypt.map((g) => g.grantId)).toEqual([grants[0]!.grantId, grants[2]!.grantId]);
      // "Encrypt" must not match "ReEncryptFrom" and the reverse.
      expect((await store.listGrantsForGrantee(k.keyId, bob, 'Encrypt', 10)).map((g) => g.grantId)).toEqual([grants[1]!.grantId]);
      expect(await store.listGrantsForGrantee(k.keyId, bob, 'ReEncryptTo', 10)).toEqual([]);
      const first = await store.listGrantsForGrantee(k.keyId, bob, 'Decrypt', 1);
      const next = await store.listGrantsForGrantee(k.keyId, bob, 'Decrypt', 1, first[0]!.grantId);
      expect([...first, ...next].map((g) => g.grantId)).toEqual(decrypt.map((g) => g.grantId));
    });

    it('lists a key\'s grants page by page, in creation order, filtered', async () => {
      const store = current();
      const k = key();
      const other = key();
      await store.insertKey(k);
      await store.insertKey(other);
      const carol = `arn:aws:iam::${ACCOUNT}:user/carol`;
      const mine = [grant(k.keyId), grant(k.keyId, { granteePrincipal: carol }), grant(k.keyId), grant(other.keyId)];
      for (const g of mine) await store.insertGrant(g);
      const seen: string[] = [];
      const sizes: number[] = [];
      let after: GrantListPosition | undefined;
      for (;;) {
        const page = await store.listGrants({ keyId: k.keyId, limit: 2, ...(after ? { after } : {}) });
        sizes.push(page.items.length);
        seen.push(...page.items.map((g) => g.grantId));
        const last = page.items.at(-1);
        if (!page.more || !last) break;
        after = { creationDate: last.creationDate, grantId: last.grantId };
      }
      expect(seen).toEqual(mine.slice(0, 3).map((g) => g.grantId));
      expect(sizes).toEqual([2, 1]);
      expect((await store.listGrants({ keyId: k.keyId, granteePrincipal: carol, limit: 10 })).items).toStrictEqual([mine[1]]);
      expect((await store.listGrants({ keyId: k.keyId, grantId: mine[2]!.grantId, limit: 10 })).items).toStrictEqual([mine[2]]);
      // Same creation date: the grant id breaks the tie.
      const tied = [grant(other.keyId, { creationDate: new Date(1) }), grant(other.keyId, { creationDate: new Date(1) })];
      for (const g of tied) await store.insertGrant(g);
      const firstTied = await store.listGrants({ keyId: other.keyId, limit: 1 });
      expect(firstTied).toStrictEqual({ items: [tied[0]], more: true });
      const nextTied = await store.listGrants({ keyId: other.keyId, limit: 1, after: { creationDate: new Date(1), grantId: tied[0]!.grantId } });
      expect(nextTied).toStrictEqual({ items: [tied[1]], more: true });
      expect(await store.countGrants(k.keyId)).toBe(3);
    });

    it('lists retirable grants across keys, finds by name, deletes one, and deletes all with the key', async () => {
      const store = current();
      const k = key();
      const other = key();
      await store.insertKey(k);
      await store.insertKey(other);
      const retirer = `arn:aws:iam::${ACCOUNT}:user/retirer`;
      const a = grant(k.keyId, { retiringPrincipal: retirer, name: 'n' });
      const b = grant(other.keyId, { retiringPrincipal: retirer, name: 'n' });
      const c = grant(k.keyId, { name: 'n', operations: ['Encrypt'] });
      for (const g of [a, b, c]) await store.insertGrant(g);
      const first = await store.listRetirableGrants({ retiringPrincipal: retirer, limit: 1 });
      expect(first.more).toBe(true);
      const second = await store.listRetirableGrants({ retiringPrincipal: retirer, limit: 1, after: { creationDate: a.creationDate, grantId: a.grantId } });
      expect([...first.items, ...second.items]).toStrictEqual([a, b]);
      expect(second.more).toBe(false);
      expect((await store.findGrantsByName(k.keyId, 'n')).map((g) => g.grantId).sort()).toEqual([a.grantId, c.grantId].sort());
      expect(await store.deleteGrant(a.grantId)).toBe(true);
      expect(await store.deleteGrant(a.grantId)).toBe(false);
      await store.deleteKey(k.keyId);
      expect(await store.getGrant(c.grantId)).toBeUndefined();
      expect(await store.getGrant(b.grantId)).toStrictEqual(b);
    });

    it('rolls a grant back with its transaction', async () => {
      const store = current();
      const k = key();
      await store.insertKey(k);
      const g = grant(k.keyId);
      await expect(
        store.transaction(async (tx) => {
          await tx.insertGrant(g);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await store.getGrant(g.grantId)).toBeUndefined();
    });
  });

  describe('quorum', () => {
    it('puts, replaces, lists and deletes rules; key-scoped rules go with their key', async () => {
      const store = current();
      const k = key();
      await store.insertKey(k);
      const global = rule();
      const scoped = rule({ keyId: k.keyId, taggedKeysOnly: true, action: 'kms:*', minApprovals: 1 });
      await store.putQuorumRule(global);
      await store.putQuorumRule(scoped);
      expect(await store.listQuorumRules()).toStrictEqual([global, scoped]);
      const changed = { ...global, minApprovals: 1, approvers: ['x'], updatedAt: new Date(1_800_000_000_999) };
      await store.putQuorumRule(changed);
      expect(await store.getQuorumRule(global.ruleId)).toStrictEqual(changed);
      await store.deleteKey(k.keyId);
      expect(await store.listQuorumRules()).toStrictEqual([changed]);
      expect(await store.deleteQuorumRule(global.ruleId)).toBe(true);
      expect(await store.deleteQuorumRule(global.ruleId)).toBe(false);
      expect(await store.listQuorumRules()).toEqual([]);
    });

    it('sees a rule another writer committed on the next read (no stale cache)', async () => {
      const store = current();
      expect(await store.listQuorumRules()).toEqual([]);
      const r = rule();
      await store.transaction((tx) => tx.putQuorumRule(r));
      expect(await store.listQuorumRules()).toStrictEqual([r]);
    });

    it('round-trips requests with votes, one vote per approver', async () => {
      const store = current();
      const r = request({ keyArn: 'arn:aws:kms:us-east-1:111122223333:key/k' });
      await store.insertApprovalRequest(r);
      expect(await store.getApprovalRequest(r.requestId)).toStrictEqual(r);
      const at = new Date(NOW.getTime() + 10);
      expect(await store.addApprovalVote(r.requestId, { approverArn: 'a', decision: 'Approve', at })).toBe(true);
      expect(await store.addApprovalVote(r.requestId, { approverArn: 'a', decision: 'Reject', at })).toBe(false);
      expect(await store.addApprovalVote(r.requestId, { approverArn: 'b', decision: 'Reject', at: new Date(at.getTime() + 1) })).toBe(true);
      expect((await store.getApprovalRequest(r.requestId))?.votes).toStrictEqual([
        { approverArn: 'a', decision: 'Approve', at },
        { approverArn: 'b', decision: 'Reject', at: new Date(at.getTime() + 1) },
      ]);
      expect(await store.getApprovalRequest('ar-none')).toBeUndefined();
    });

    it('finds the open request for a call, and consumes an approval exactly once', async () => {
      const store = current();
      const r = request();
      await store.insertApprovalRequest(r);
      expect((await store.findOpenApprovalRequest(r.requesterArn, r.operation, r.parametersHash, NOW))?.requestId).toBe(r.requestId);
      expect(await store.findOpenApprovalRequest('someone else', r.operation, r.parametersHash, NOW)).toBeUndefined();
      expect(await store.findOpenApprovalRequest(r.requesterArn, r.operation, 'e'.repeat(64), NOW)).toBeUndefined();
      expect(await store.findOpenApprovalRequest(r.requesterArn, r.operation, r.parametersHash, r.expiresAt)).toBeUndefined();

      expect(await store.transitionApprovalRequest(r.requestId, 'Approved', 'Consumed', NOW)).toBe(false);
      expect(await store.transitionApprovalRequest(r.requestId, 'Pending', 'Approved', NOW)).toBe(true);
      const consumers = await Promise.all(
        Array.from({ length: 6 }, () => store.transitionApprovalRequest(r.requestId, 'Approved', 'Consumed', NOW)),
      );
      expect(consumers.filter(Boolean)).toHaveLength(1);
      expect(await store.findOpenApprovalRequest(r.requesterArn, r.operation, r.parametersHash, NOW)).toBeUndefined();
      const stored = await store.getApprovalRequest(r.requestId);
      expect(stored).toMatchObject({ status: 'Consumed', decidedAt: NOW });
      // Past its expiry a request cannot change any more.
      const late = request();
      await store.insertApprovalRequest({ ...late, status: 'Approved' });
      expect(await store.transitionApprovalRequest(late.requestId, 'Approved', 'Consumed', late.expiresAt)).toBe(false);
    });

    it('counts a requester\'s pending, unexpired requests, no further than the cap', async () => {
      const store = current();
      const requesterArn = `arn:aws:iam::${ACCOUNT}:user/counted-${grantSequence}`;
      for (let i = 0; i < 3; i++) await store.insertApprovalRequest(request({ requesterArn }));
      await store.insertApprovalRequest(request({ requesterArn, status: 'Approved' }));
      await store.insertApprovalRequest(request({ requesterArn, expiresAt: NOW }));
      await store.insertApprovalRequest(request({ requesterArn: `${requesterArn}-other` }));
      expect(await store.countPendingApprovalRequests(requesterArn, NOW, 100)).toBe(3);
      expect(await store.countPendingApprovalRequests(requesterArn, NOW, 2)).toBe(2);
      expect(await store.countPendingApprovalRequests('nobody', NOW, 100)).toBe(0);
    });

    it('lists only the requests a principal made or may approve, full pages while more follow', async () => {
      const store = current();
      const me = `arn:aws:iam::${ACCOUNT}:user/visible-${grantSequence}`;
      const mine = request({ requesterArn: me, createdAt: new Date(NOW.getTime() + 10) });
      const toApprove = request({ requirements: [{ ruleId: 'qr-9', minApprovals: 1, approvers: ['x', me] }], createdAt: new Date(NOW.getTime() + 8) });
      // Many requests this principal may not see, newer and older than its own.
      const others = Array.from({ length: 6 }, (_, i) => request({ createdAt: new Date(NOW.getTime() + (i < 3 ? 20 + i : i)) }));
      for (const r of [mine, toApprove, ...others]) await store.insertApprovalRequest(r);
      const first = await store.listApprovalRequests({ now: NOW, limit: 1, visibleTo: me });
      expect(first.items.map((r) => r.requestId)).toEqual([mine.requestId]);
      expect(first.more).toBe(true);
      const second = await store.listApprovalRequests({ now: NOW, limit: 1, visibleTo: me, after: { createdAt: mine.createdAt, requestId: mine.requestId } });
      expect(second.items.map((r) => r.requestId)).toEqual([toApprove.requestId]);
      expect(second.more).toBe(false);
      expect((await store.listApprovalRequests({ now: NOW, limit: 10, visibleTo: 'nobody' })).items).toEqual([]);
      expect((await store.listApprovalRequests({ now: NOW, limit: 100 })).items.length).toBeGreaterThanOrEqual(8);
      // The approvers go with their request.
      expect(await store.deleteApprovalRequestsExpiredBefore(new Date(NOW.getTime() + 7_200_000))).toBeGreaterThanOrEqual(8);
      expect((await store.listApprovalRequests({ now: NOW, limit: 10, visibleTo: me })).items).toEqual([]);
    });

    it('lists requests newest first by status, and deletes expired ones with their votes', async () => {
      const store = current();
      const old = request({ createdAt: new Date(NOW.getTime() - 7_200_000), expiresAt: new Date(NOW.getTime() - 3_600_000) });
      const pending = request();
      const approved = request({ status: 'Approved', createdAt: new Date(NOW.getTime() + 1) });
      for (const r of [old, pending, approved]) await store.insertApprovalRequest(r);
      await store.addApprovalVote(old.requestId, { approverArn: 'a', decision: 'Approve', at: old.createdAt });
      const all: string[] = [];
      let after: ApprovalRequestListPosition | undefined;
      for (;;) {
        const page = await store.listApprovalRequests({ now: NOW, limit: 2, ...(after ? { after } : {}) });
        all.push(...page.items.map((r) => r.requestId));
        const last = page.items.at(-1);
        if (!page.more || !last) break;
        after = { createdAt: last.createdAt, requestId: last.requestId };
      }
      expect(all).toEqual([approved.requestId, pending.requestId, old.requestId]);
      expect((await store.listApprovalRequests({ now: NOW, limit: 1, after: { createdAt: approved.createdAt, requestId: approved.requestId } })).more).toBe(true);
      expect((await store.listApprovalRequests({ now: NOW, limit: 2, after: { createdAt: approved.createdAt, requestId: approved.requestId } })).more).toBe(false);
      expect((await store.listApprovalRequests({ now: NOW, limit: 10, status: 'Pending' })).items.map((r) => r.requestId)).toEqual([pending.requestId]);
      expect((await store.listApprovalRequests({ now: NOW, limit: 10, status: 'Expired' })).items.map((r) => r.requestId)).toEqual([old.requestId]);
      const duplicate = await store.insertApprovalRequest(pending).catch((e: unknown) => e);
      expect(duplicate).toBeInstanceOf(StoreError);
      expect(duplicate).toMatchObject({ kind: 'conflict', record: 'approval-request', subject: pending.requestId });
      expect(await store.deleteApprovalRequestsExpiredBefore(NOW)).toBe(1);
      expect(await store.getApprovalRequest(old.requestId)).toBeUndefined();
      expect((await store.getApprovalRequest(pending.requestId))?.requestId).toBe(pending.requestId);
    });
  });
}
