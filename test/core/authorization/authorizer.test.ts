/**
 * The authorizer as the dispatcher binds it to a call, on the real store: operations see the
 * caller as stored now, a deleted access key stops working at once, and each decision lands in
 * the call's audit event.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkRoles } from '../../../src/core/admin/principal-names.js';
import { createAuthorizerBinder } from '../../../src/core/authorization/authorizer.js';
import { createDispatcher } from '../../../src/core/dispatch.js';
import { KmsError } from '../../../src/core/errors.js';
import type { PrincipalRecord } from '../../../src/core/model.js';
import type { JsonObject, Operation, RequestContext } from '../../../src/core/operation.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import { approveRequest } from '../../../src/core/quorum/operations/approve-request.js';
import { putQuorumRule } from '../../../src/core/quorum/operations/put-quorum-rule.js';
import type { Logger } from '../../../src/core/ports.js';
import { createTestKms, TEST_ROOT, TEST_SETTINGS, type TestKms } from '../../support/kms-deps.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

const seen: PrincipalRecord[] = [];
/** Records the caller it was given, then asks the authorizer for `Action` (and, twice, for `Action2`). */
const probe: Operation = {
  name: 'Probe',
  async run(deps, ctx, input) {
    seen.push(ctx.principal);
    await deps.authorizer.authorize({ principal: ctx.principal, action: String(input.Action), context: (input.Context as Record<string, string> | undefined) ?? {} });
    if (typeof input.Action2 === 'string') await deps.authorizer.authorize({ principal: ctx.principal, action: input.Action2, context: {} });
    return {};
  },
};

/** Asks the authorizer for `Action` on the key `KeyId`. */
const keyProbe: Operation = {
  name: 'KeyProbe',
  async run(deps, ctx, input) {
    const key = (await deps.store.getKey(String(input.KeyId)))!;
    await deps.authorizer.authorize({ principal: ctx.principal, action: String(input.Action), key, context: (input.Context as Record<string, string> | undefined) ?? {} });
    return {};
  },
};

function dispatcher() {
  return createDispatcher(
    kms.deps,
    new Map([
      ['Probe', probe],
      ['KeyProbe', keyProbe],
    ]),
    silent,
    { bindAuthorizer: createAuthorizerBinder(kms.deps) },
  );
}

async function userWithKey(name: string, roles: PrincipalRecord['roles']): Promise<RequestContext> {
  const principal: PrincipalRecord = { arn: `arn:aws:iam::${TEST_SETTINGS.accountId}:user/${name}`, name, accountId: TEST_SETTINGS.accountId, roles, createdAt: new Date(0) };
  await kms.store.insertPrincipal(principal);
  const accessKeyId = `AKIA${name.toUpperCase().padEnd(16, 'X')}`;
  await kms.store.insertAccessKey({ accessKeyId, principalArn: principal.arn, sealedSecret: new Uint8Array(8), createdAt: new Date(0), status: 'Active' });
  return { requestId: `r-${name}`, principal, accessKeyId };
}

async function failure(promise: Promise<JsonObject>): Promise<KmsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KmsError);
  return error as KmsError;
}

describe('the bound authorizer', () => {
  it('gives operations the caller as stored now, not as the credential cache resolved it', async () => {
    const ctx = await userWithKey('changing', ['CryptoUser']);
    const d = dispatcher();
    seen.length = 0;
    await d.dispatch('Probe', ctx, { Action: 'kms:ListKeys' });
    await kms.store.setPrincipalRoles(ctx.principal.arn, ['Auditor']);
    // ctx still says CryptoUser, as a cached credential would.
    await d.dispatch('Probe', ctx, { Action: 'kms:ListKeys' });
    expect(seen.map((p) => p.roles)).toEqual([['CryptoUser'], ['Auditor']]);
    // And decides with the new roles: an Auditor may not create keys.
    expect((await failure(d.dispatch('Probe', ctx, { Action: 'kms:CreateKey' }))).type).toBe('AccessDeniedException');
  });

  it('refuses a call signed with an access key deleted since, before the operation runs', async () => {
    const ctx = await userWithKey('revoked', ['CryptoUser']);
    await kms.store.deleteAccessKey(ctx.accessKeyId!);
    seen.length = 0;
    const error = await failure(dispatcher().dispatch('Probe', ctx, { Action: 'kms:ListKeys' }));
    expect(error.type).toBe('UnrecognizedClientException');
    expect(seen).toEqual([]);
    expect(kms.audit.at(-1)).toMatchObject({ eventName: 'Probe', errorCode: 'UnrecognizedClientException' });
  });

  it('records every decision of a call in its audit event, refusals as AccessDenied', async () => {
    const ctx = await userWithKey('audited', ['CryptoUser']);
    const d = dispatcher();
    await d.dispatch('Probe', ctx, { Action: 'kms:ListKeys', Action2: 'kms:GenerateRandom' });
    expect(kms.audit.at(-1)?.additionalEventData).toEqual({
      authorization: [
        { action: 'kms:ListKeys', resource: '*', decision: 'Allow', decidedBy: 'role' },
        { action: 'kms:GenerateRandom', resource: '*', decision: 'Allow', decidedBy: 'role' },
      ],
    });
    const denied = await failure(d.dispatch('Probe', ctx, { Action: 'hsmkms:CreatePrincipal' }));
    expect(denied.message).toBe(
      `User: ${ctx.principal.arn} is not authorized to perform: hsmkms:CreatePrincipal on resource: * because none of the caller's roles allows principal administration`,
    );
    expect(kms.audit.at(-1)).toMatchObject({
      errorCode: 'AccessDenied',
      additionalEventData: { authorization: [{ action: 'hsmkms:CreatePrincipal', resource: '*', decision: 'ImplicitDeny', decidedBy: 'role' }] },
    });
    // An action no role rule covers is refused to everyone but the root (fail closed).
    expect((await failure(d.dispatch('Probe', ctx, { Action: 'kms:SomethingNew' }))).message).toContain('because no role rule covers kms:SomethingNew');
  });

  it('lets the account root skip the role gate, and an identity-policy Deny still stop a role’s allowance', async () => {
    await kms.store.insertPrincipal(TEST_ROOT);
    const d = dispatcher();
    await d.dispatch('Probe', { requestId: 'root', principal: TEST_ROOT }, { Action: 'kms:SomethingNew', Action2: 'hsmkms:CreatePrincipal' });
    expect(kms.audit.at(-1)?.additionalEventData).toMatchObject({ authorization: [{ decidedBy: 'root' }, { decidedBy: 'root' }] });

    const ctx = await userWithKey('fenced', ['CryptoUser']);
    const at = new Date();
    await kms.store.putPrincipalPolicy({
      principalArn: ctx.principal.arn,
      policyName: 'no-random',
      document: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'NoRandom', Effect: 'Deny', Action: 'kms:GenerateRandom', Resource: '*' }] }),
      createdAt: at,
      updatedAt: at,
    });
    const denied = await failure(d.dispatch('Probe', ctx, { Action: 'kms:GenerateRandom' }));
    expect(denied.message).toContain('with an explicit deny in an identity-based policy');
    expect(kms.audit.at(-1)?.additionalEventData).toEqual({
      authorization: [{ action: 'kms:GenerateRandom', resource: '*', decision: 'ExplicitDeny', decidedBy: 'identity-policy', statements: ['no-random:NoRandom'] }],
    });
  });
});

describe('the peer-to-peer multi-Region operations', () => {
  const PEER_ACTIONS = ['hsmkms:PrepareReplica', 'hsmkms:ImportReplica', 'hsmkms:AbandonReplica'];
  const KEY_PEER_ACTIONS = ['hsmkms:SyncMultiRegionKey', 'hsmkms:ImportReplicaVersions'];

  it('are refused to a CryptoUser and a CryptoOfficer, even on a key they own and with an identity policy allowing them', async () => {
    const d = dispatcher();
    for (const [name, roles] of [['user', ['CryptoUser']], ['officer', ['CryptoOfficer']], ['audit', ['Auditor']]] as const) {
      const ctx = await userWithKey(name, [...roles]);
      const at = new Date();
      const document = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'hsmkms:*', Resource: '*' }] });
      await kms.store.putPrincipalPolicy({ principalArn: ctx.principal.arn, policyName: 'all', document, createdAt: at, updatedAt: at });
      for (const action of PEER_ACTIONS) {
        const denied = await failure(d.dispatch('Probe', ctx, { Action: action }));
        expect(denied.type, `${name} ${action}`).toBe('AccessDeniedException');
        expect(denied.message).toContain(`hsmkms principal set-roles ${name} --role RegionPeer`);
      }
      // A replica a CryptoUser peer principal made before RegionPeer existed is its own: still refused.
      const owned = ((await createKey.run(kms.deps, ctx, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
      for (const action of KEY_PEER_ACTIONS)
        expect((await failure(d.dispatch('KeyProbe', ctx, { Action: action, KeyId: owned }))).type, `${name} ${action}`).toBe('AccessDeniedException');
    }
  });

  it('are the RegionPeer’s, which does nothing else, not even with a key it made; it holds no other role', async () => {
    const d = dispatcher();
    const ctx = await userWithKey('peer', ['RegionPeer']);
    await kms.store.putPrincipalTags(ctx.principal.arn, [{ TagKey: 'hsmkms:PeerRegion', TagValue: 'eu-west-1' }]);
    for (const action of [...PEER_ACTIONS, 'hsmkms:GetCallerIdentity']) await d.dispatch('Probe', ctx, { Action: action });
    const made = ((await createKey.run(kms.deps, ctx, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    for (const action of KEY_PEER_ACTIONS) await d.dispatch('KeyProbe', ctx, { Action: action, KeyId: made });
    expect(kms.audit.at(-1)?.additionalEventData).toMatchObject({ authorization: [{ decision: 'Allow', decidedBy: 'owner' }] });
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:CreateGrant'])
      expect((await failure(d.dispatch('KeyProbe', ctx, { Action: action, KeyId: made }))).message, action).toContain('the RegionPeer role may never perform');
    for (const action of ['kms:CreateKey', 'kms:ListKeys', 'kms:GenerateRandom', 'hsmkms:CreatePrincipal', 'hsmkms:ListPrincipals', 'hsmkms:ApproveRequest', 'hsmkms:LookupAuditEvents'])
      expect((await failure(d.dispatch('Probe', ctx, { Action: action }))).message, action).toContain('the RegionPeer role may never perform');
    for (const roles of [['RegionPeer', 'CryptoUser'], ['RegionPeer', 'Auditor'], ['RegionPeer', 'CryptoOfficer']])
      expect(() => checkRoles(roles), roles.join('+')).toThrow(/RegionPeer is held alone/);
    expect(checkRoles(['RegionPeer'])).toStrictEqual(['RegionPeer']);
  });

  it('are made only by a RegionPeer bound to the region they act for (its hsmkms:PeerRegion tag); never by one bound to none, nor by the root', async () => {
    const d = dispatcher();
    const ctx = await userWithKey('peer-of-eu', ['RegionPeer']);
    const forEu = { 'hsmkms:PeerRegion': 'eu-west-1' };
    const forUs = { 'hsmkms:PeerRegion': 'us-east-1' };
    // Bound to none: refused, naming the command that binds it.
    for (const action of PEER_ACTIONS)
      expect((await failure(d.dispatch('Probe', ctx, { Action: action, Context: forEu }))).message, action).toContain(
        'hsmkms principal tag peer-of-eu --tag hsmkms:PeerRegion=REGION',
      );
    await kms.store.putPrincipalTags(ctx.principal.arn, [{ TagKey: 'hsmkms:PeerRegion', TagValue: 'eu-west-1' }]);
    for (const action of PEER_ACTIONS) {
      await d.dispatch('Probe', ctx, { Action: action, Context: forEu });
      await d.dispatch('Probe', ctx, { Action: action });
      const denied = await failure(d.dispatch('Probe', ctx, { Action: action, Context: forUs }));
      expect(denied.type).toBe('AccessDeniedException');
      expect(denied.message).toContain(`not authorized to perform: ${action}`);
      expect(denied.message).toContain('the peer principal of eu-west-1 may not act for a key whose primary is in us-east-1');
    }
    const made = ((await createKey.run(kms.deps, ctx, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    for (const action of KEY_PEER_ACTIONS) {
      // Its own replica, but whose primary is recorded in another region: refused.
      expect((await failure(dispatchKeyProbe(d, ctx, action, made, forUs))).message).toContain('may not act for a key whose primary is in us-east-1');
      await dispatchKeyProbe(d, ctx, action, made, forEu);
    }
    // A tag that names no region binds to none.
    await kms.store.putPrincipalTags(ctx.principal.arn, [{ TagKey: 'hsmkms:PeerRegion', TagValue: 'anywhere' }]);
    expect((await failure(d.dispatch('Probe', ctx, { Action: 'hsmkms:ImportReplica', Context: forEu }))).message).toContain('bound to no region');
    // The account root, which passes every role gate: never a peer.
    await kms.store.insertPrincipal(TEST_ROOT);
    const root = { requestId: 'root', principal: TEST_ROOT };
    for (const action of PEER_ACTIONS)
      expect((await failure(d.dispatch('Probe', root, { Action: action, Context: forEu }))).message, action).toContain('never with the account root');
  });
});

describe('a replica key between regions', () => {
  it("is kept in step by the RegionPeer of its primary region as recorded (after UpdatePrimaryRegion too), not only by the one that made it; by no other", async () => {
    const d = dispatcher();
    const maker = await userWithKey('peer-of-ap', ['RegionPeer']);
    await kms.store.putPrincipalTags(maker.principal.arn, [{ TagKey: 'hsmkms:PeerRegion', TagValue: 'ap-south-1' }]);
    const replica = ((await createKey.run(kms.deps, maker, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    const newPrimary = await userWithKey('peer-of-eu', ['RegionPeer']);
    await kms.store.putPrincipalTags(newPrimary.principal.arn, [{ TagKey: 'hsmkms:PeerRegion', TagValue: 'eu-west-1' }]);
    const here = await userWithKey('peer-of-us', ['RegionPeer']);
    await kms.store.putPrincipalTags(here.principal.arn, [{ TagKey: 'hsmkms:PeerRegion', TagValue: TEST_SETTINGS.region }]);
    for (const action of ['hsmkms:SyncMultiRegionKey', 'hsmkms:ImportReplicaVersions']) {
      // The primary is recorded in eu-west-1 now: its peer owns the replica.
      await dispatchKeyProbe(d, newPrimary, action, replica, { 'hsmkms:PeerRegion': 'eu-west-1' });
      expect(kms.audit.at(-1)?.additionalEventData).toMatchObject({ authorization: [{ decision: 'Allow', decidedBy: 'owner' }] });
      // Without that record, only the maker's ownership counts.
      expect((await failure(d.dispatch('KeyProbe', newPrimary, { Action: action, KeyId: replica }))).type, action).toBe('AccessDeniedException');
      await d.dispatch('KeyProbe', maker, { Action: action, KeyId: replica });
      // A key whose primary is recorded here is no peer's, even one bound to this region.
      expect((await failure(dispatchKeyProbe(d, here, action, replica, { 'hsmkms:PeerRegion': TEST_SETTINGS.region }))).type, action).toBe('AccessDeniedException');
      // Another region's peer cannot claim the recorded primary region.
      expect((await failure(dispatchKeyProbe(d, maker, action, replica, { 'hsmkms:PeerRegion': 'eu-west-1' }))).message).toContain('may not act for a key whose primary is in eu-west-1');
    }
  });
});

describe('quorum over the actions of one call', () => {
  it('refuses an action authorized after the call used its approval when a rule that approval did not cover guards it', async () => {
    const d = dispatcher();
    const ctx = await userWithKey('stepwise', ['CryptoOfficer']);
    const approver = (await userWithKey('approver', ['CryptoUser'])).principal;
    const guard = async (action: string) =>
      ((await putQuorumRule.run(kms.deps, { requestId: 'rule', principal: ctx.principal }, { Action: action, MinApprovals: 1, Approvers: ['approver'] })).Rule as { RuleId: string })
        .RuleId;
    await guard('hsmkms:CreatePrincipal');
    const second = await guard('hsmkms:DeletePrincipal');
    // An operation that authorizes its two actions one at a time: the first opens a request for
    // its own rule only, which the approver approves.
    const call = { Action: 'hsmkms:CreatePrincipal', Action2: 'hsmkms:DeletePrincipal' };
    const pending = await failure(d.dispatch('Probe', ctx, call));
    expect(pending.type).toBe('QuorumApprovalRequiredException');
    await approveRequest.run(kms.deps, { requestId: 'vote', principal: approver }, { ApprovalRequestId: pending.fields!.ApprovalRequestId! });
    // The repeated call uses that approval for its first action; the second action's rule was
    // approved by nobody, so the call stops there.
    const refused = await failure(d.dispatch('Probe', ctx, call));
    expect(refused.type).toBe('AccessDeniedException');
    expect(refused.message).toContain(`hsmkms:DeletePrincipal is guarded by quorum rule ${second}`);
  });
});

function dispatchKeyProbe(d: ReturnType<typeof dispatcher>, ctx: RequestContext, action: string, keyId: string, context: Record<string, string>) {
  return d.dispatch('KeyProbe', ctx, { Action: action, KeyId: keyId, Context: context });
}
