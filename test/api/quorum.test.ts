/**
 * M-of-N quorum through the real AWS SDK and the `hsmkms quorum` CLI: a CryptoOfficer guards
 * ScheduleKeyDeletion with 2 of 3 approvers; the key owner's unmodified SDK call fails with
 * QuorumApprovalRequiredException naming the request, succeeds once after two approvals, and
 * needs a new approval when repeated or when a parameter changes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelKeyDeletionCommand, CreateAliasCommand, CreateKeyCommand, EncryptCommand, ReEncryptCommand, UpdateAliasCommand, DescribeKeyCommand, DisableKeyCommand, DisableKeyRotationCommand, EnableKeyRotationCommand, GetKeyRotationStatusCommand, KMSClient, ListAliasesCommand, ScheduleKeyDeletionCommand, SignCommand, UpdateKeyDescriptionCommand } from '@aws-sdk/client-kms';
import { createHash } from 'node:crypto';
import { HsmKmsClient, HsmKmsError } from '../../src/client/hsmkms-client.js';
import { startServer, type RunningServer } from '../support/server.js';
import { hsmkms } from '../support/cli.js';

let server: RunningServer;
const kms: Record<string, KMSClient> = {};
const admin: Record<string, HsmKmsClient> = {};
const creds: Record<string, { accessKeyId: string; secretAccessKey: string }> = {};
const arns: Record<string, string> = {};

beforeAll(async () => {
  server = await startServer();
  admin.root = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  for (const [name, roles] of [
    ['officer', ['CryptoOfficer']],
    ['owner', ['CryptoUser']],
    ['approver1', ['CryptoUser']],
    ['approver2', ['CryptoUser']],
    ['approver3', ['Auditor']],
  ] as const) {
    const out = (await admin.root.call('CreatePrincipal', { UserName: name, Roles: [...roles] })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
    arns[name] = out.Arn;
    creds[name] = { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey };
    kms[name] = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: creds[name], maxAttempts: 1 });
    admin[name] = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: creds[name] });
  }
});
afterAll(async () => {
  for (const c of Object.values(kms)) c.destroy();
  await server?.close();
});

/** The SDK's error for a call that must fail: its name, HTTP status, message and body fields. */
async function refused(promise: Promise<unknown>): Promise<{ name: string; status?: number; message: string; ApprovalRequestId?: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number }; ApprovalRequestId?: string };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message, ApprovalRequestId: e.ApprovalRequestId };
  }
  throw new Error('the call succeeded');
}

async function approve(who: string, id: string): Promise<Record<string, unknown>> {
  return (await admin[who]!.call('ApproveRequest', { ApprovalRequestId: id })).ApprovalRequest as Record<string, unknown>;
}

describe('quorum-guarded ScheduleKeyDeletion through @aws-sdk/client-kms', () => {
  let keyId: string;

  beforeAll(async () => {
    const put = await admin.officer!.call('PutQuorumRule', {
      Action: 'kms:ScheduleKeyDeletion',
      MinApprovals: 2,
      Approvers: ['approver1', 'approver2', arns.approver3],
    });
    expect(put.Rule).toMatchObject({ Action: 'kms:ScheduleKeyDeletion', MinApprovals: 2, Approvers: [arns.approver1, arns.approver2, arns.approver3].sort() });
    keyId = (await kms.owner!.send(new CreateKeyCommand({ Description: 'guarded' }))).KeyMetadata!.KeyId!;
  });

  it('fails with the request id, succeeds after 2 of 3 approvals, and fails again when repeated', async () => {
    const call = () => kms.owner!.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    const first = await refused(call());
    expect(first).toMatchObject({ name: 'QuorumApprovalRequiredException', status: 400 });
    const id = first.ApprovalRequestId!;
    expect(id).toMatch(/^ar-[0-9a-f]{32}$/);
    expect(first.message).toContain(id);
    expect((await kms.owner!.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Enabled');

    // The approver sees what it approves.
    const seen = (await admin.approver1!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest;
    expect(seen).toMatchObject({ Status: 'Pending', Requester: arns.owner, Operation: 'ScheduleKeyDeletion', Parameters: { KeyId: keyId, PendingWindowInDays: 7 } });

    expect(await approve('approver1', id)).toMatchObject({ Status: 'Pending' });
    expect((await refused(call())).ApprovalRequestId).toBe(id);
    expect(await approve('approver3', id)).toMatchObject({ Status: 'Approved' });

    const scheduled = await call();
    expect(scheduled.KeyState).toBe('PendingDeletion');
    expect((await admin.owner!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest).toMatchObject({ Status: 'Consumed' });

    await kms.owner!.send(new CancelKeyDeletionCommand({ KeyId: keyId }));
    const again = await refused(call());
    expect(again).toMatchObject({ name: 'QuorumApprovalRequiredException', status: 400 });
    expect(again.ApprovalRequestId).not.toBe(id);
    await admin.owner!.call('RejectRequest', { ApprovalRequestId: again.ApprovalRequestId });
  });

  it('refuses self-approval, and a modified parameter needs a new approval', async () => {
    const other = (await kms.approver1!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const request = await refused(kms.approver1!.send(new ScheduleKeyDeletionCommand({ KeyId: other, PendingWindowInDays: 10 })));
    const id = request.ApprovalRequestId!;
    const self = await admin.approver1!.call('ApproveRequest', { ApprovalRequestId: id }).catch((e: unknown) => e);
    expect(self).toBeInstanceOf(HsmKmsError);
    expect(self).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    await approve('approver2', id);
    await approve('approver3', id);

    const modified = await refused(kms.approver1!.send(new ScheduleKeyDeletionCommand({ KeyId: other, PendingWindowInDays: 11 })));
    expect(modified.name).toBe('QuorumApprovalRequiredException');
    expect(modified.ApprovalRequestId).not.toBe(id);
    // The approved call itself still goes through, once.
    expect((await kms.approver1!.send(new ScheduleKeyDeletionCommand({ KeyId: other, PendingWindowInDays: 10 }))).PendingWindowInDays).toBe(10);
  });

  it('answers approval ids that do not exist with NotFoundException (400)', async () => {
    for (const id of ['ar-0123456789abcdef0123456789abcdef', 'nonsense', '']) {
      const error = await admin.approver1!.call('ApproveRequest', { ApprovalRequestId: id }).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 400 });
      expect((error as Error).name).toBe(id === '' ? 'ValidationException' : 'NotFoundException');
    }
    const rejected = await admin.approver1!.call('RejectRequest', { ApprovalRequestId: 'ar-0123456789abcdef0123456789abcdef' }).catch((e: unknown) => e);
    expect(rejected).toMatchObject({ name: 'NotFoundException', status: 400 });
  });

  it('lists only the requests the caller may see, every page full while more follow', async () => {
    const out = (await admin.root!.call('CreatePrincipal', { UserName: 'outsider', Roles: ['CryptoUser'] })) as { AccessKeyId: string; SecretAccessKey: string };
    const outsider = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey }, maxAttempts: 1 });
    kms.outsider = outsider;
    const mine = (await kms.owner!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const own = (await refused(kms.owner!.send(new ScheduleKeyDeletionCommand({ KeyId: mine, PendingWindowInDays: 9 })))).ApprovalRequestId!;
    // Newer requests the owner may not see: another principal's, for its own keys.
    for (let i = 0; i < 3; i++) {
      const theirs = (await outsider.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      expect((await refused(outsider.send(new ScheduleKeyDeletionCommand({ KeyId: theirs, PendingWindowInDays: 7 })))).name).toBe('QuorumApprovalRequiredException');
    }
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await admin.owner!.call('ListApprovalRequests', { Limit: 1, Status: 'Pending', ...(marker ? { Marker: marker } : {}) });
      const items = page.ApprovalRequests as Array<{ ApprovalRequestId: string; Requester: string }>;
      if (page.Truncated) expect(items).toHaveLength(1);
      for (const r of items) expect(r.Requester).toBe(arns.owner);
      seen.push(...items.map((r) => r.ApprovalRequestId));
      marker = page.NextMarker as string | undefined;
    } while (marker);
    expect(seen[0]).toBe(own);
    // An approver sees them all; the officer too.
    const approverView = (await admin.approver1!.call('ListApprovalRequests', { Limit: 100, Status: 'Pending' })).ApprovalRequests as unknown[];
    expect(approverView.length).toBeGreaterThanOrEqual(4);
  });

  it('lets only a CryptoOfficer change rules', async () => {
    const error = await admin.owner!.call('PutQuorumRule', { Action: 'kms:DisableKey', MinApprovals: 1, Approvers: ['approver1'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    expect(((await admin.officer!.call('ListQuorumRules', {})).Rules as unknown[]).length).toBe(1);
  });

  it('approves and lists from the command line with the approver’s own credentials', async () => {
    const target = (await kms.owner!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const id = (await refused(kms.owner!.send(new ScheduleKeyDeletionCommand({ KeyId: target, PendingWindowInDays: 7 })))).ApprovalRequestId!;
    const env = (who: string) => ({ AWS_ACCESS_KEY_ID: creds[who]!.accessKeyId, AWS_SECRET_ACCESS_KEY: creds[who]!.secretAccessKey, AWS_REGION: server.region });

    const listed = await hsmkms(['quorum', 'list', '--status', 'Pending', '--endpoint', server.endpoint], env('approver2'));
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+Pending\\s+ScheduleKeyDeletion`));
    const approved = await hsmkms(['quorum', 'approve', id, '--endpoint', server.endpoint, '--json'], env('approver2'));
    expect(JSON.parse(approved.stdout).ApprovalRequest.Rules[0].Approvals).toEqual([arns.approver2]);
    await approve('approver1', id);
    expect((await kms.owner!.send(new ScheduleKeyDeletionCommand({ KeyId: target, PendingWindowInDays: 7 }))).KeyState).toBe('PendingDeletion');

    // Self-approval and unknown ids fail with a message, exit code 1, no stack trace.
    const self = await hsmkms(['quorum', 'approve', id, '--endpoint', server.endpoint], env('owner')).catch((e: { code: number; stderr: string }) => e);
    expect(self).toMatchObject({ code: 1 });
    expect((self as { stderr: string }).stderr).toMatch(/^hsmkms: AccessDeniedException: .*may not approve/);
    const unknown = await hsmkms(['quorum', 'reject', 'ar-0123456789abcdef0123456789abcdef', '--endpoint', server.endpoint], env('approver1')).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(unknown).toMatchObject({ code: 1 });
    expect((unknown as { stderr: string }).stderr).toContain('NotFoundException');
    expect((unknown as { stderr: string }).stderr).not.toContain('    at ');
  });
});

describe('an approval is checked against the rules in force when it is used', () => {
  it('a rule raised or added after the approval needs the new approvals before the call runs', async () => {
    const put = await admin.officer!.call('PutQuorumRule', { Action: 'kms:DisableKey', MinApprovals: 1, Approvers: ['approver1', 'approver2'] });
    const ruleId = (put.Rule as { RuleId: string }).RuleId;
    const keyId = (await kms.owner!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const disable = () => kms.owner!.send(new DisableKeyCommand({ KeyId: keyId }));
    const state = async () => (await kms.owner!.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;

    const first = (await refused(disable())).ApprovalRequestId!;
    expect(await approve('approver1', first)).toMatchObject({ Status: 'Approved' });
    // The officer now asks for 2 approvals: the request approved by 1 no longer suffices.
    await admin.officer!.call('PutQuorumRule', { RuleId: ruleId, Action: 'kms:DisableKey', MinApprovals: 2, Approvers: ['approver1', 'approver2'] });
    const second = await refused(disable());
    expect(second.name).toBe('QuorumApprovalRequiredException');
    expect(second.ApprovalRequestId).not.toBe(first);
    expect(await state()).toBe('Enabled');
    expect((await admin.owner!.call('GetApprovalRequest', { ApprovalRequestId: first })).ApprovalRequest).toMatchObject({ Status: 'Rejected' });

    await approve('approver1', second.ApprovalRequestId!);
    expect(await approve('approver2', second.ApprovalRequestId!)).toMatchObject({ Status: 'Approved' });
    // A second rule, on this key only, with an approver who has not approved.
    await admin.officer!.call('PutQuorumRule', { Action: 'kms:DisableKey', KeyId: keyId, MinApprovals: 1, Approvers: [arns.approver3] });
    const third = await refused(disable());
    expect(third.name).toBe('QuorumApprovalRequiredException');
    expect(third.ApprovalRequestId).not.toBe(second.ApprovalRequestId);
    expect(await state()).toBe('Enabled');

    for (const who of ['approver1', 'approver2', 'approver3']) await approve(who, third.ApprovalRequestId!);
    await disable();
    expect(await state()).toBe('Disabled');
  });
});

describe('approval requests one principal may open', () => {
  it('are at most 100 pending: the next new call is LimitExceededException, a retried one still finds its request', async () => {
    const out = (await admin.root!.call('CreatePrincipal', { UserName: 'busy', Roles: ['CryptoUser'] })) as { AccessKeyId: string; SecretAccessKey: string };
    const busy = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey }, maxAttempts: 1 });
    kms.busy = busy;
    const busyAdmin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey } });
    await admin.officer!.call('PutQuorumRule', { Action: 'kms:UpdateKeyDescription', MinApprovals: 1, Approvers: ['approver1'] });
    const keyId = (await busy.send(new CreateKeyCommand({ Description: 'before' }))).KeyMetadata!.KeyId!;
    const describe = (i: number) => busy.send(new UpdateKeyDescriptionCommand({ KeyId: keyId, Description: `description ${i}` }));

    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const refusal = await refused(describe(i));
      expect(refusal.name).toBe('QuorumApprovalRequiredException');
      ids.push(refusal.ApprovalRequestId!);
    }
    const over = await refused(describe(100));
    expect(over).toMatchObject({ name: 'LimitExceededException', status: 400 });
    expect(over.message).toContain('100 approval requests pending');
    expect((await refused(describe(0))).ApprovalRequestId).toBe(ids[0]);
    expect((await busy.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Description).toBe('before');

    // Withdrawing one makes room for one.
    await busyAdmin.call('RejectRequest', { ApprovalRequestId: ids[1] });
    expect((await refused(describe(100))).name).toBe('QuorumApprovalRequiredException');
    expect((await refused(describe(101))).name).toBe('LimitExceededException');
  });
});

describe('a DryRun call to an operation without DryRun', () => {
  it('never runs the operation on an approval it does not consume', async () => {
    await admin.officer!.call('PutQuorumRule', { Action: 'kms:DisableKeyRotation', MinApprovals: 1, Approvers: ['approver1'] });
    const keyId = (await kms.owner!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.owner!.send(new EnableKeyRotationCommand({ KeyId: keyId }));
    const rotating = async () => (await kms.owner!.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled;
    // The same SDK call with `"DryRun": true` added to the body before it is signed.
    const dry = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: creds.owner!, maxAttempts: 1 });
    dry.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body: string; headers: Record<string, string> };
        request.body = JSON.stringify({ ...JSON.parse(request.body), DryRun: true });
        request.headers['content-length'] = String(Buffer.byteLength(request.body));
        return next(args);
      },
      { step: 'build', name: 'addDryRun' },
    );
    try {
      const id = (await refused(kms.owner!.send(new DisableKeyRotationCommand({ KeyId: keyId })))).ApprovalRequestId!;
      expect(await approve('approver1', id)).toMatchObject({ Status: 'Approved' });

      for (let i = 0; i < 2; i++) {
        const dryRun = await refused(dry.send(new DisableKeyRotationCommand({ KeyId: keyId })));
        expect(dryRun.name).toBe('DryRunOperationException');
        expect(await rotating()).toBe(true);
      }
      expect((await admin.owner!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest).toMatchObject({ Status: 'Approved' });
      await kms.owner!.send(new DisableKeyRotationCommand({ KeyId: keyId }));
      expect(await rotating()).toBe(false);
      await kms.owner!.send(new EnableKeyRotationCommand({ KeyId: keyId }));
      expect((await refused(dry.send(new DisableKeyRotationCommand({ KeyId: keyId })))).name).toBe('QuorumApprovalRequiredException');
      expect(await rotating()).toBe(true);
    } finally {
      dry.destroy();
    }
  });
});

describe('a call that acts on two keys needs the approvals of the rules guarding either', () => {
  // Before, the first guarded action of a call consumed its approval and the call's later actions
  // asked no quorum: a rule guarding the second key was never consulted. A weaker rule on a key
  // the caller chose as the first (one it owns) was enough to get past a stronger one on the second.
  let weak: string;
  let strong: string;
  beforeAll(async () => {
    const a = (await kms.owner!.send(new CreateKeyCommand({ Description: 'first key' }))).KeyMetadata!.KeyId!;
    const b = (await kms.owner!.send(new CreateKeyCommand({ Description: 'second key, guarded' }))).KeyMetadata!.KeyId!;
    [weak, strong] = [a, b];
    for (const action of ['kms:UpdateAlias', 'kms:ReEncryptFrom']) await admin.officer!.call('PutQuorumRule', { Action: action, KeyId: a, MinApprovals: 1, Approvers: ['approver1'] });
    for (const action of ['kms:UpdateAlias', 'kms:ReEncryptTo']) await admin.officer!.call('PutQuorumRule', { Action: action, KeyId: b, MinApprovals: 1, Approvers: [arns.approver3] });
  });

  it('UpdateAlias from one key to another', async () => {
    await kms.owner!.send(new CreateAliasCommand({ AliasName: 'alias/two-keys', TargetKeyId: weak }));
    const update = () => kms.owner!.send(new UpdateAliasCommand({ AliasName: 'alias/two-keys', TargetKeyId: strong }));
    const target = async () => (await kms.owner!.send(new ListAliasesCommand({ KeyId: weak }))).Aliases?.map((a) => a.AliasName);

    const id = (await refused(update())).ApprovalRequestId!;
    const request = (await admin.owner!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest as { Rules: Array<{ Approvers: string[] }>; HashedKeyArns: string[] };
    expect(request.Rules.map((r) => r.Approvers).sort()).toEqual([[arns.approver1], [arns.approver3]]);
    // Both keys are bound by the hash, and shown so (KeyId names the first).
    expect(request.HashedKeyArns.map((arn) => arn.split('/')[1])).toEqual([weak, strong]);
    expect(await approve('approver1', id)).toMatchObject({ Status: 'Pending' });
    expect((await refused(update())).ApprovalRequestId).toBe(id);
    expect(await target()).toEqual(['alias/two-keys']);
    expect(await approve('approver3', id)).toMatchObject({ Status: 'Approved' });
    await update();
    expect(await target()).toEqual([]);
  });

  it('ReEncrypt from one key to another', async () => {
    const blob = (await kms.owner!.send(new EncryptCommand({ KeyId: weak, Plaintext: Buffer.from('moved') }))).CiphertextBlob!;
    const reEncrypt = () => kms.owner!.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: strong }));
    const id = (await refused(reEncrypt())).ApprovalRequestId!;
    expect(await approve('approver1', id)).toMatchObject({ Status: 'Pending' });
    expect((await refused(reEncrypt())).name).toBe('QuorumApprovalRequiredException');
    expect(await approve('approver3', id)).toMatchObject({ Status: 'Approved' });
    expect((await reEncrypt()).KeyId).toContain(strong);
  });
});

describe('an approver of a Sign sees what is to be signed', () => {
  // The audit trail never keeps a Message, and the request showed only the key and the algorithm:
  // approvers of M-of-N signing could not tell one message from another.
  it('as the SHA-256 of the message, and a digest as itself', async () => {
    const keyId = (await kms.owner!.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    await admin.officer!.call('PutQuorumRule', { Action: 'kms:Sign', KeyId: keyId, MinApprovals: 1, Approvers: ['approver1'] });
    const release = Buffer.from('release 1.2.3 of the firmware');
    const raw = await refused(kms.owner!.send(new SignCommand({ KeyId: keyId, Message: release, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' })));
    const shown = async (id: string) => ((await admin.approver1!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest as { Parameters: Record<string, unknown> }).Parameters;
    const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    expect(await shown(raw.ApprovalRequestId!)).toEqual({ KeyId: keyId, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256', MessageSha256: sha256(release) });

    const digest = createHash('sha256').update(release).digest();
    const ofDigest = await refused(kms.owner!.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })));
    expect(await shown(ofDigest.ApprovalRequestId!)).toMatchObject({ MessageType: 'DIGEST', MessageDigest: sha256(release), MessageSha256: sha256(digest) });
    await approve('approver1', ofDigest.ApprovalRequestId!);
    const signed = await kms.owner!.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(signed.Signature?.length).toBeGreaterThan(0);
    await admin.owner!.call('RejectRequest', { ApprovalRequestId: raw.ApprovalRequestId });
  });
});

describe('credentials for a quorum approver need that quorum', () => {
  // Otherwise one CryptoOfficer mints an approver's access key and approves as that approver:
  // M-of-N decided by one.
  const names = ['keeper1', 'keeper2', 'keeper3', 'keeperOfficer'];
  let ruleId: string;
  beforeAll(async () => {
    for (const name of names) {
      const out = (await admin.root!.call('CreatePrincipal', { UserName: name, Roles: name === 'keeperOfficer' ? ['CryptoOfficer'] : ['CryptoUser'] })) as {
        Arn: string;
        AccessKeyId: string;
        SecretAccessKey: string;
      };
      arns[name] = out.Arn;
      admin[name] = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey } });
    }
    const put = await admin.officer!.call('PutQuorumRule', { Action: 'kms:ReplicateKey', MinApprovals: 2, Approvers: names });
    ruleId = (put.Rule as { RuleId: string }).RuleId;
  });

  const refusedAdmin = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => new Error('the call succeeded'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HsmKmsError);
    return error as HsmKmsError;
  };
  const accessKeys = async (name: string) => (((await admin.root!.call('GetPrincipal', { UserName: name })).Principal as { AccessKeys: unknown[] }).AccessKeys).length;

  it('CreateAccessKey for an approver by a CryptoOfficer waits for the approvals of the rules naming it', async () => {
    const call = () => admin.officer!.call('CreateAccessKey', { UserName: 'keeper1' });
    const first = await refusedAdmin(call());
    expect(first).toMatchObject({ name: 'QuorumApprovalRequiredException', status: 400 });
    const id = first.fields.ApprovalRequestId as string;
    expect(first.message).toContain(id);
    expect(await accessKeys('keeper1')).toBe(1);
    const seen = (await admin.keeper2!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest as Record<string, unknown>;
    expect(seen).toMatchObject({ Operation: 'HsmKms.CreateAccessKey', Parameters: { UserName: 'keeper1' } });
    expect(seen.Rules).toEqual([expect.objectContaining({ RuleId: ruleId, MinApprovals: 2 })]);
    // The root is held to it as well.
    expect(await refusedAdmin(admin.root!.call('CreateAccessKey', { UserName: 'keeper1' }))).toMatchObject({ name: 'QuorumApprovalRequiredException' });

    await approve('keeper2', id);
    await approve('keeper3', id);
    const created = (await call()).AccessKey as { UserName: string; SecretAccessKey: string };
    expect(created.UserName).toBe('keeper1');
    expect(await accessKeys('keeper1')).toBe(2);
  });

  it('an approver asking for its own access key needs nobody', async () => {
    const own = (await admin.keeperOfficer!.call('CreateAccessKey', { UserName: 'keeperOfficer' })).AccessKey as { UserName: string };
    expect(own.UserName).toBe('keeperOfficer');
    // The same officer for another approver: the quorum's.
    expect(await refusedAdmin(admin.keeperOfficer!.call('CreateAccessKey', { UserName: 'keeper2' }))).toMatchObject({ name: 'QuorumApprovalRequiredException' });
  });

  it('CreatePrincipal under a deleted approver’s name waits for the approvals too', async () => {
    await admin.officer!.call('DeletePrincipal', { UserName: 'keeper3' });
    const again = await refusedAdmin(admin.officer!.call('CreatePrincipal', { UserName: 'keeper3', Roles: ['CryptoUser'] }));
    expect(again).toMatchObject({ name: 'QuorumApprovalRequiredException', status: 400 });
    expect(await refusedAdmin(admin.root!.call('GetPrincipal', { UserName: 'keeper3' }))).toMatchObject({ name: 'NotFoundException' });
    // Principals no rule names are created as before.
    expect(await admin.officer!.call('CreatePrincipal', { UserName: 'nokeeper', Roles: ['CryptoUser'] })).toMatchObject({ Arn: expect.stringContaining(':user/nokeeper') });
  });
});

describe('approvers see what they approve', () => {
  // Before, `quorum get` showed the parameters the audit trail keeps and nothing else: members the
  // approval covers but that are secret (Plaintext) or binary went unmentioned, the hash that binds
  // the approval to the call was not shown, and `quorum list` showed neither parameters nor hash.
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-quorum-call-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = (who: string) => ({ AWS_ACCESS_KEY_ID: creds[who]!.accessKeyId, AWS_SECRET_ACCESS_KEY: creds[who]!.secretAccessKey, AWS_REGION: server.region });

  it('shows the action, the parameters, those withheld and the call hash, and checks a request file against it', async () => {
    const keyId = (await kms.owner!.send(new CreateKeyCommand({ Description: 'guarded encryption' }))).KeyMetadata!.KeyId!;
    await admin.officer!.call('PutQuorumRule', { Action: 'kms:Encrypt', KeyId: keyId, MinApprovals: 1, Approvers: ['approver2'] });
    const secret = 'the launch code is 0000';
    const plaintext = Buffer.from(secret).toString('base64');
    const id = (await refused(kms.owner!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(secret), EncryptionContext: { purpose: 'launch' } })))).ApprovalRequestId!;

    const view = (await admin.approver2!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest as Record<string, unknown>;
    expect(view).toMatchObject({ Operation: 'Encrypt', Action: 'kms:Encrypt', WithheldParameters: ['Plaintext'], Parameters: { KeyId: keyId, EncryptionContext: { purpose: 'launch' } } });
    expect(view.HashedKeyArns).toEqual([expect.stringMatching(new RegExp(`:key/${keyId}$`))]);
    expect(JSON.stringify(view)).not.toContain(plaintext);

    for (const args of [['get', id], ['list', '--status', 'Pending']]) {
      const { stdout } = await hsmkms(['quorum', ...args, '--endpoint', server.endpoint], env('approver2'));
      expect(stdout).toContain(`action: kms:Encrypt`);
      expect(stdout).toContain(`"EncryptionContext":{"purpose":"launch"}`);
      expect(stdout).toContain('not shown, but covered by the hash: Plaintext');
      expect(stdout).toContain(`call hash: ${view.ParametersHash as string}`);
      expect(stdout).not.toContain(plaintext);
    }

    // The requester hands the approver the request it will send; the approver checks it locally.
    const same = join(dir, 'same.json');
    writeFileSync(same, JSON.stringify({ EncryptionContext: { purpose: 'launch' }, Plaintext: plaintext, KeyId: keyId }));
    expect((await hsmkms(['quorum', 'get', id, '--call', same, '--endpoint', server.endpoint], env('approver2'))).stdout).toContain(`the call in ${same} is the call ${id} approves`);
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ KeyId: keyId, Plaintext: Buffer.from('another secret').toString('base64'), EncryptionContext: { purpose: 'launch' } }));
    const mismatch = await hsmkms(['quorum', 'get', id, '--call', other, '--endpoint', server.endpoint], env('approver2')).catch((e: { code: number; stderr: string }) => e);
    expect(mismatch).toMatchObject({ code: 1 });
    expect((mismatch as { stderr: string }).stderr).toContain(`is NOT the call ${id} approves`);

    await approve('approver2', id);
    expect((await kms.owner!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(secret), EncryptionContext: { purpose: 'launch' } }))).KeyId).toContain(keyId);
  });
});
