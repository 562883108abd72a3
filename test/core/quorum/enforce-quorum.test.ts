/**
 * Quorum enforcement and the approval operations on the real store and token: requests bound
 * to one call, M distinct approvers other than the requester, exactly-once consumption,
 * expiry (driven by a test clock), rejection, DryRun, key-scoped and tag-bound rules.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import type { KeyRecord, PrincipalRecord } from '../../../src/core/model.js';
import type { JsonObject, Operation } from '../../../src/core/operation.js';
import { enforceQuorum, type QuorumCheck } from '../../../src/core/quorum/index.js';
import { deletePrincipal } from '../../../src/core/admin/delete-principal.js';
import { approveRequest } from '../../../src/core/quorum/operations/approve-request.js';
import { deleteQuorumRule } from '../../../src/core/quorum/operations/delete-quorum-rule.js';
import { getApprovalRequest } from '../../../src/core/quorum/operations/get-approval-request.js';
import { listKeys } from '../../../src/core/operations/list-keys.js';
import { listApprovalRequests } from '../../../src/core/quorum/operations/list-approval-requests.js';
import { putQuorumRule } from '../../../src/core/quorum/operations/put-quorum-rule.js';
import { rejectRequest } from '../../../src/core/quorum/operations/reject-request.js';
import { startScheduler, type Scheduler } from '../../../src/core/scheduler.js';
import type { Logger } from '../../../src/core/ports.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../../support/kms-deps.js';
import { expectKmsError, newKey } from '../operations/management-support.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

let kms: TestKms;
let scheduler: Scheduler;
const people: Record<string, PrincipalRecord> = {};

function user(name: string, roles: PrincipalRecord['roles'] = ['CryptoUser']): PrincipalRecord {
  return { arn: `arn:aws:iam::${TEST_SETTINGS.accountId}:user/${name}`, name, accountId: TEST_SETTINGS.accountId, roles, createdAt: new Date(0) };
}

function as(who: PrincipalRecord, operation: Operation, input: JsonObject): Promise<JsonObject> {
  return operation.run(kms.deps, { requestId: 'r', principal: who }, input);
}

beforeEach(async () => {
  kms = await createTestKms();
  scheduler = startScheduler(kms.deps, silent, { intervalMs: 3_600_000 });
  for (const [name, roles] of [
    ['officer', ['CryptoOfficer']],
    ['owner', ['CryptoUser']],
    ['a1', ['CryptoUser']],
    ['a2', ['CryptoUser']],
    ['a3', ['CryptoUser']],
  ] as const) {
    people[name] = user(name, [...roles]);
    await kms.store.insertPrincipal(people[name]);
  }
});
afterEach(async () => {
  await scheduler.stop();
  await kms.close();
});

async function rule(input: JsonObject): Promise<string> {
  const out = await as(people.officer!, putQuorumRule, { MinApprovals: 2, Approvers: ['a1', 'a2', 'a3'], ...input });
  return (out.Rule as { RuleId: string }).RuleId;
}

function check(caller: PrincipalRecord, key: KeyRecord | undefined, input: JsonObject, action = 'kms:ScheduleKeyDeletion', operation = 'ScheduleKeyDeletion'): QuorumCheck {
  return { caller, action, key, operation, input, now: kms.clock.now() };
}

/** Runs enforceQuorum and returns the pending request id from the error it must throw. */
async function pendingId(c: QuorumCheck): Promise<string> {
  const error = await expectKmsError(enforceQuorum(kms.deps, c), 'QuorumApprovalRequiredException');
  expect(error.httpStatus).toBe(400);
  const id = error.fields?.ApprovalRequestId;
  expect(id).toMatch(/^ar-[0-9a-f]{32}$/);
  expect(error.message).toContain(id!);
  return id!;
}

async function keyRecord(): Promise<KeyRecord> {
  const { keyId } = await newKey(kms);
  return (await kms.store.getKey(keyId))!;
}

describe('enforceQuorum', () => {
  it('guards nothing without rules, and calls no rule matches', async () => {
    const key = await keyRecord();
    expect(await enforceQuorum(kms.deps, check(people.owner!, key, { KeyId: key.keyId }))).toBeUndefined();
    await rule({ Action: 'kms:DisableKey' });
    expect(await enforceQuorum(kms.deps, check(people.owner!, key, { KeyId: key.keyId }))).toBeUndefined();
    expect((await kms.store.listApprovalRequests({ now: kms.clock.now(), limit: 10 })).items).toEqual([]);
  });

  it('opens one request per call, lets the same call through once after 2 of 3 approvals, then asks again', async () => {
    const ruleId = await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const input = { KeyId: key.keyId, PendingWindowInDays: 7 };
    const id = await pendingId(check(people.owner!, key, input));
    expect(await pendingId(check(people.owner!, key, { PendingWindowInDays: 7, KeyId: key.keyId }))).toBe(id);

    const first = await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    expect(first.ApprovalRequest).toMatchObject({ Status: 'Pending', Rules: [{ RuleId: ruleId, MinApprovals: 2, Approvals: [people.a1!.arn] }] });
    // Approving twice is idempotent and counts once.
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    expect(await pendingId(check(people.owner!, key, input))).toBe(id);
    const second = await as(people.a3!, approveRequest, { ApprovalRequestId: id });
    expect(second.ApprovalRequest).toMatchObject({ Status: 'Approved' });

    expect(await enforceQuorum(kms.deps, check(people.owner!, key, input))).toEqual({ ruleId, ruleIds: [ruleId], approvalRequestId: id });
    const again = await pendingId(check(people.owner!, key, input));
    expect(again).not.toBe(id);
    expect((await as(people.owner!, getApprovalRequest, { ApprovalRequestId: id })).ApprovalRequest).toMatchObject({ Status: 'Consumed' });
    // A late approval of a consumed request changes nothing.
    await expectKmsError(as(people.a2!, approveRequest, { ApprovalRequestId: id }), 'KMSInvalidStateException', 'Consumed');
  });

  it('approvals belong to the principal, not its name: one deleted and created again inherits neither its votes nor its requests', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const input = { KeyId: key.keyId, PendingWindowInDays: 7 };
    // owner's request, approved by a1 and a3; a1 is then deleted and created again.
    const id = await pendingId(check(people.owner!, key, input));
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    await as(people.a3!, approveRequest, { ApprovalRequestId: id });
    await as(people.officer!, deletePrincipal, { UserName: 'a1' });
    await kms.store.insertPrincipal(people.a1!);
    // The approval no longer covers the rule: the call needs a new request, with new votes.
    const next = await pendingId(check(people.owner!, key, input));
    expect(next).not.toBe(id);
    // a2 opens a request, is deleted and created again: the new a2 cannot use it.
    const own = await pendingId(check(people.a2!, key, { KeyId: key.keyId, PendingWindowInDays: 8 }));
    await as(people.a1!, approveRequest, { ApprovalRequestId: own });
    await as(people.a3!, approveRequest, { ApprovalRequestId: own });
    await as(people.officer!, deletePrincipal, { UserName: 'a2' });
    await kms.store.insertPrincipal(people.a2!);
    expect((await as(people.a3!, getApprovalRequest, { ApprovalRequestId: own })).ApprovalRequest).toMatchObject({ Status: 'Rejected' });
    expect(await pendingId(check(people.a2!, key, { KeyId: key.keyId, PendingWindowInDays: 8 }))).not.toBe(own);
  });

  it('binds the approval to the caller and the parameters', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId, PendingWindowInDays: 7 }));
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    await as(people.a2!, approveRequest, { ApprovalRequestId: id });
    const modified = await pendingId(check(people.owner!, key, { KeyId: key.keyId, PendingWindowInDays: 8 }));
    expect(modified).not.toBe(id);
    const otherCaller = await pendingId(check(people.a3!, key, { KeyId: key.keyId, PendingWindowInDays: 7 }));
    expect(otherCaller).not.toBe(id);
    // The approved request is still there for the exact call.
    expect(await enforceQuorum(kms.deps, check(people.owner!, key, { KeyId: key.keyId, PendingWindowInDays: 7 }))).toMatchObject({ approvalRequestId: id });
  });

  it('never counts the requester: self-approval is refused, and a rule needing everyone else still works', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const id = await pendingId(check(people.a1!, key, { KeyId: key.keyId }));
    await expectKmsError(as(people.a1!, approveRequest, { ApprovalRequestId: id }), 'AccessDeniedException', 'may not approve');
    await expectKmsError(as(people.officer!, approveRequest, { ApprovalRequestId: id }), 'AccessDeniedException', 'not an approver');
    await expectKmsError(as(people.owner!, approveRequest, { ApprovalRequestId: id }), 'NotFoundException');
    await as(people.a2!, approveRequest, { ApprovalRequestId: id });
    await as(people.a3!, approveRequest, { ApprovalRequestId: id });
    expect(await enforceQuorum(kms.deps, check(people.a1!, key, { KeyId: key.keyId }))).toMatchObject({ approvalRequestId: id });
  });

  it('lets exactly one of several concurrent identical calls consume an approval', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion', MinApprovals: 1 });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId }));
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => enforceQuorum(kms.deps, check(people.owner!, key, { KeyId: key.keyId }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ type: 'QuorumApprovalRequiredException' });
  });

  it('expires requests: a late call opens a new one, the old one cannot be approved or used, the scheduler removes it', async () => {
    kms.deps.settings = { ...kms.deps.settings, approvalRequestTtlSeconds: 600 };
    await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const input = { KeyId: key.keyId };
    const id = await pendingId(check(people.owner!, key, input));
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    await as(people.a2!, approveRequest, { ApprovalRequestId: id });
    kms.clock.advance(600_000);
    expect((await as(people.owner!, getApprovalRequest, { ApprovalRequestId: id })).ApprovalRequest).toMatchObject({ Status: 'Expired' });
    await expectKmsError(as(people.a3!, approveRequest, { ApprovalRequestId: id }), 'KMSInvalidStateException', 'Expired');
    const fresh = await pendingId(check(people.owner!, key, input));
    expect(fresh).not.toBe(id);
    const expired = await as(people.officer!, listApprovalRequests, { Status: 'Expired' });
    expect((expired.ApprovalRequests as JsonObject[]).map((r) => r.ApprovalRequestId)).toEqual([id]);
    await scheduler.runOnce();
    await expectKmsError(as(people.owner!, getApprovalRequest, { ApprovalRequestId: id }), 'NotFoundException');
    expect((await as(people.owner!, getApprovalRequest, { ApprovalRequestId: fresh })).ApprovalRequest).toMatchObject({ Status: 'Pending' });
  });

  it('closes a rejected request for good; the next attempt opens a new one', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId }));
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    const rejected = await as(people.a2!, rejectRequest, { ApprovalRequestId: id });
    expect(rejected.ApprovalRequest).toMatchObject({ Status: 'Rejected' });
    await expectKmsError(as(people.a3!, approveRequest, { ApprovalRequestId: id }), 'KMSInvalidStateException', 'Rejected');
    expect(await pendingId(check(people.owner!, key, { KeyId: key.keyId }))).not.toBe(id);
  });

  it('lets a DryRun open and check a request without consuming it, and never pass', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion', MinApprovals: 1 });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId, DryRun: true }));
    await as(people.a1!, approveRequest, { ApprovalRequestId: id });
    // Approved: the dry run says so (and names the request) without letting the call through.
    await expectKmsError(enforceQuorum(kms.deps, check(people.owner!, key, { KeyId: key.keyId, DryRun: true })), 'DryRunOperationException', id);
    expect(await enforceQuorum(kms.deps, check(people.owner!, key, { KeyId: key.keyId }))).toMatchObject({ approvalRequestId: id });
    await pendingId(check(people.owner!, key, { KeyId: key.keyId, DryRun: true }));
  });

  it('applies a key-scoped rule to that key only, and a tag-bound rule to tagged keys, including removing the tag', async () => {
    const scoped = await keyRecord();
    const other = await keyRecord();
    await rule({ Action: 'kms:DisableKey', KeyId: scoped.keyId });
    await pendingId(check(people.owner!, scoped, { KeyId: scoped.keyId }, 'kms:DisableKey', 'DisableKey'));
    expect(await enforceQuorum(kms.deps, check(people.owner!, other, { KeyId: other.keyId }, 'kms:DisableKey', 'DisableKey'))).toBeUndefined();

    const tagRule = await rule({ Action: 'kms:Decrypt', TaggedKeysOnly: true });
    expect(await enforceQuorum(kms.deps, check(people.owner!, other, {}, 'kms:Decrypt', 'Decrypt'))).toBeUndefined();
    await kms.store.putTags(other.keyId, [{ TagKey: 'hsmkms:quorum', TagValue: ` ${tagRule} ` }]);
    await pendingId(check(people.owner!, other, { CiphertextBlob: 'AAAA' }, 'kms:Decrypt', 'Decrypt'));
    expect(await enforceQuorum(kms.deps, check(people.owner!, other, { KeyId: other.keyId }, 'kms:Encrypt', 'Encrypt'))).toBeUndefined();
    await pendingId(check(people.owner!, other, { KeyId: other.keyId, TagKeys: ['hsmkms:quorum'] }, 'kms:UntagResource', 'UntagResource'));
    expect(await enforceQuorum(kms.deps, check(people.owner!, other, { KeyId: other.keyId, TagKeys: ['x'] }, 'kms:UntagResource', 'UntagResource'))).toBeUndefined();
  });

  it('never guards the approval operations themselves', async () => {
    await rule({ Action: 'hsmkms:*' });
    expect(await enforceQuorum(kms.deps, check(people.a1!, undefined, { ApprovalRequestId: 'ar-x' }, 'hsmkms:ApproveRequest', 'HsmKms.ApproveRequest'))).toBeUndefined();
    await pendingId(check(people.officer!, undefined, { UserName: 'x' }, 'hsmkms:CreatePrincipal', 'HsmKms.CreatePrincipal'));
  });
});

describe('quorum rule and request operations', () => {
  it('replaces a rule for the same action and scope, and deletes it', async () => {
    const first = await rule({ Action: 'kms:PutKeyPolicy' });
    const second = await rule({ Action: 'kms:PutKeyPolicy', MinApprovals: 3 });
    expect(second).toBe(first);
    expect(await kms.store.listQuorumRules()).toMatchObject([{ ruleId: first, minApprovals: 3, approvers: [people.a1!.arn, people.a2!.arn, people.a3!.arn] }]);
    await as(people.officer!, deleteQuorumRule, { RuleId: first });
    expect(await kms.store.listQuorumRules()).toEqual([]);
    await expectKmsError(as(people.officer!, deleteQuorumRule, { RuleId: first }), 'NotFoundException');
  });

  it('refuses rules that could never match or never be satisfied, and unknown approvers', async () => {
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletoin' }), 'ValidationException', 'matches no action');
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletion; drop' }), 'ValidationException');
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletion', MinApprovals: 4 }), 'ValidationException', 'never be satisfied');
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletion', MinApprovals: 0 }), 'ValidationException');
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletion', Approvers: ['a1', 'nobody'] }), 'NotFoundException', 'nobody');
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletion', KeyId: 'alias/none' }), 'NotFoundException');
    await expectKmsError(rule({ Action: 'kms:ScheduleKeyDeletion', RuleId: 'qr-0000000000000000' }), 'NotFoundException');
    expect(await kms.store.listQuorumRules()).toEqual([]);
  });

  it('answers NotFoundException for request ids that do not exist or are not visible', async () => {
    for (const id of ['ar-00000000000000000000000000000000', 'garbage', 'ar-' + 'g'.repeat(32)]) {
      await expectKmsError(as(people.a1!, approveRequest, { ApprovalRequestId: id }), 'NotFoundException');
      await expectKmsError(as(people.a1!, rejectRequest, { ApprovalRequestId: id }), 'NotFoundException');
      await expectKmsError(as(people.a1!, getApprovalRequest, { ApprovalRequestId: id }), 'NotFoundException');
    }
    await expectKmsError(as(people.a1!, approveRequest, {}), 'ValidationException');
    await rule({ Action: 'kms:ScheduleKeyDeletion', Approvers: ['a1', 'a2'] });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId }));
    // a3 is neither requester nor approver: the request does not exist for it.
    await expectKmsError(as(people.a3!, getApprovalRequest, { ApprovalRequestId: id }), 'NotFoundException');
    expect((await as(people.a3!, listApprovalRequests, {})).ApprovalRequests).toEqual([]);
    expect((await as(people.a1!, listApprovalRequests, {})).ApprovalRequests).toHaveLength(1);
  });

  it('pages ListApprovalRequests newest first, filtering what the caller may see in the query, and refuses other lists\' markers', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion', Approvers: ['a1', 'a2'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      kms.clock.advance(1000);
      const key = await keyRecord();
      ids.unshift(await pendingId(check(people.owner!, key, { KeyId: key.keyId })));
    }
    const pages = async (who: PrincipalRecord): Promise<{ seen: string[]; truncated: number }> => {
      const seen: string[] = [];
      let truncated = 0;
      let marker: string | undefined;
      for (;;) {
        const page = await as(who, listApprovalRequests, { Limit: 1, ...(marker ? { Marker: marker } : {}) });
        seen.push(...(page.ApprovalRequests as JsonObject[]).map((r) => r.ApprovalRequestId as string));
        if (page.Truncated !== true) break;
        truncated += 1;
        marker = page.NextMarker as string;
      }
      return { seen, truncated };
    };
    expect(await pages(people.a1!)).toEqual({ seen: ids, truncated: 2 });
    // a3 may see none of them: visibility is filtered in the query, so it gets one empty, final
    // page instead of paging through requests it may not see.
    expect(await pages(people.a3!)).toEqual({ seen: [], truncated: 0 });
    await expectKmsError(as(people.a1!, listApprovalRequests, { Marker: 'garbage' }), 'InvalidMarkerException');
    const keysMarker = (await as(people.officer!, listKeys, { Limit: 1 })).NextMarker as string;
    await expectKmsError(as(people.a1!, listApprovalRequests, { Marker: keysMarker }), 'InvalidMarkerException');
  });

  it('lets the requester withdraw its own request', async () => {
    await rule({ Action: 'kms:ScheduleKeyDeletion' });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId }));
    expect((await as(people.owner!, rejectRequest, { ApprovalRequestId: id })).ApprovalRequest).toMatchObject({ Status: 'Rejected' });
  });

  it('shows approvers what the call would do, without secrets', async () => {
    await rule({ Action: 'kms:ImportKeyMaterial', MinApprovals: 1 });
    const key = await keyRecord();
    const id = await pendingId(check(people.owner!, key, { KeyId: key.keyId, EncryptedKeyMaterial: 'c2VjcmV0', ImportToken: 'dG9rZW4=' }, 'kms:ImportKeyMaterial', 'ImportKeyMaterial'));
    const view = (await as(people.a1!, getApprovalRequest, { ApprovalRequestId: id })).ApprovalRequest as JsonObject;
    expect(view).toMatchObject({ Operation: 'ImportKeyMaterial', KeyId: key.arn, Requester: people.owner!.arn, Parameters: { KeyId: key.keyId } });
    expect(JSON.stringify(view)).not.toContain('c2VjcmV0');
  });
});

it('keeps KmsError the only error type thrown (sanity of the helper)', () => {
  expect(new KmsError('QuorumApprovalRequiredException', 'x', { fields: { ApprovalRequestId: 'ar-1' } }).fields).toEqual({ ApprovalRequestId: 'ar-1' });
});
