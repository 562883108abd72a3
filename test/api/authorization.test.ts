/**
 * Authorization end to end: the real `@aws-sdk/client-kms` and the signed HsmKms client against
 * the built service, with principals made through `HsmKms.CreatePrincipal` and `hsmkms
 * principal create`. Key policies, identity policies through root delegation, roles, ownership,
 * explain, the audit trail, and bad input.
 */
import { writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateRandomCommand,
  KMSClient,
  ListKeysCommand,
  PutKeyPolicyCommand,
  GetKeyPolicyCommand,
  ScheduleKeyDeletionCommand,
  CreateAliasCommand,
  DeleteAliasCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { lookupAuditEvents, verifyAuditTrail } from '../../src/audit/index.js';
import { HsmKmsClient, HsmKmsError } from '../../src/client/hsmkms-client.js';
import { hsmkms, testTokenArgs } from '../support/cli.js';
import { startServer, type RunningServer } from '../support/server.js';

const ACCOUNT = '111122223333';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;

interface Caller {
  arn: string;
  kms: KMSClient;
  admin: HsmKmsClient;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

let server: RunningServer;
let root: Caller;
let officer: Caller;
let auditor: Caller;
let owner: Caller;
let app: Caller;
const clients: KMSClient[] = [];

function caller(arn: string, credentials: { accessKeyId: string; secretAccessKey: string }): Caller {
  const kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials, maxAttempts: 1 });
  clients.push(kms);
  return { arn, kms, admin: new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials }), credentials };
}

async function createPrincipal(by: Caller, name: string, roles?: string[]): Promise<Caller> {
  const out = await by.admin.call('CreatePrincipal', { UserName: name, ...(roles ? { Roles: roles } : {}) });
  expect(out.Arn).toBe(user(name));
  return caller(out.Arn as string, { accessKeyId: out.AccessKeyId as string, secretAccessKey: out.SecretAccessKey as string });
}

/** The rejection a promise ends with, for asserting the AWS exception name and message. */
async function refusal(promise: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number }; status?: number };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode ?? e.status };
  }
  throw new Error('expected the call to be refused');
}

function policy(...statements: object[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}
const ACCOUNT_ADMIN = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' };

/** Lets `app` do `action` when the encryption context has tenant=a. */
function tenantA(action: string | string[]): object {
  return { Sid: 'TenantA', Effect: 'Allow', Principal: { AWS: app.arn }, Action: action, Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:tenant': 'a' } } };
}

async function keyWithPolicy(by: Caller, text?: string): Promise<{ keyId: string; arn: string }> {
  const out = await by.kms.send(new CreateKeyCommand(text ? { Policy: text } : {}));
  return { keyId: out.KeyMetadata!.KeyId!, arn: out.KeyMetadata!.Arn! };
}

beforeAll(async () => {
  server = await startServer();
  root = caller(ROOT, server.credentials);
  // Bootstrap: the account root creates the first CryptoOfficer, who creates everyone else.
  officer = await createPrincipal(root, 'officer', ['CryptoOfficer']);
  auditor = await createPrincipal(officer, 'auditor', ['Auditor']);
  owner = await createPrincipal(officer, 'owner');
  app = await createPrincipal(officer, 'app', ['CryptoUser']);
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.destroy();
  await server?.close();
});

describe('key policies', () => {
  it('lets a second principal Encrypt and DescribeKey but not Decrypt, in AWS’s words and without leaking the policy', async () => {
    const key = await keyWithPolicy(
      owner,
      policy(ACCOUNT_ADMIN, { Sid: 'AppMayEncryptSecretSid', Effect: 'Allow', Principal: { AWS: app.arn }, Action: ['kms:Encrypt', 'kms:DescribeKey'], Resource: '*' }),
    );
    const enc = await app.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('for the owner') }));
    expect((await app.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.Arn).toBe(key.arn);
    const denied = await refusal(app.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })));
    expect(denied).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    // The key policy allows the account too (root delegation), so AWS names the identity side.
    expect(denied.message).toBe(
      `User: ${app.arn} is not authorized to perform: kms:Decrypt on resource: ${key.arn} because no identity-based policy allows the kms:Decrypt action`,
    );
    expect(denied.message).not.toContain('AppMayEncryptSecretSid');
    // The owner decrypts what the app encrypted.
    expect(Buffer.from((await owner.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext!).toString()).toBe('for the owner');
  });

  it('allows Decrypt only under the encryption context a kms:EncryptionContext:tenant condition names', async () => {
    const key = await keyWithPolicy(owner, policy(ACCOUNT_ADMIN, tenantA(['kms:Encrypt', 'kms:Decrypt'])));
    const a = await app.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x'), EncryptionContext: { tenant: 'a' } }));
    expect(Buffer.from((await app.kms.send(new DecryptCommand({ CiphertextBlob: a.CiphertextBlob, EncryptionContext: { tenant: 'a' } }))).Plaintext!).toString()).toBe('x');
    // Same ciphertext key, another tenant: refused before any decryption is attempted.
    const b = await owner.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('y'), EncryptionContext: { tenant: 'b' } }));
    expect(await refusal(app.kms.send(new DecryptCommand({ CiphertextBlob: b.CiphertextBlob, EncryptionContext: { tenant: 'b' } })))).toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(await refusal(app.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x') })))).toMatchObject({ name: 'AccessDeniedException' });
  });

  it('lets an explicit Deny beat an Allow, the owner’s rights included', async () => {
    const key = await keyWithPolicy(
      owner,
      policy(
        ACCOUNT_ADMIN,
        { Sid: 'AppAll', Effect: 'Allow', Principal: { AWS: app.arn }, Action: 'kms:*', Resource: '*' },
        { Sid: 'NoDecrypt', Effect: 'Deny', Principal: { AWS: [app.arn, owner.arn] }, Action: 'kms:Decrypt', Resource: '*' },
      ),
    );
    const enc = await app.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('z') }));
    for (const who of [app, owner]) {
      const denied = await refusal(who.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })));
      expect(denied.name).toBe('AccessDeniedException');
      expect(denied.message).toBe(`User: ${who.arn} is not authorized to perform: kms:Decrypt on resource: ${key.arn} with an explicit deny in a resource-based policy`);
    }
  });

  it('keys sharing one policy text share its compiled form, and a new policy on one changes only that key, from its next request', async () => {
    const shared = policy(ACCOUNT_ADMIN, { Sid: 'AppEncrypts', Effect: 'Allow', Principal: { AWS: app.arn }, Action: 'kms:Encrypt', Resource: '*' });
    const [one, two] = [await keyWithPolicy(owner, shared), await keyWithPolicy(owner, shared)];
    const encrypt = (k: { keyId: string }) => app.kms.send(new EncryptCommand({ KeyId: k.keyId, Plaintext: Buffer.from('s') }));
    for (const k of [one, two]) expect((await encrypt(k)).KeyId).toBe(k.arn);
    await owner.kms.send(new PutKeyPolicyCommand({ KeyId: one.keyId, PolicyName: 'default', Policy: policy(ACCOUNT_ADMIN) }));
    expect((await refusal(encrypt(one))).name).toBe('AccessDeniedException');
    expect((await encrypt(two)).KeyId).toBe(two.arn);
    // Back to the shared text: allowed again, the other key untouched throughout.
    await owner.kms.send(new PutKeyPolicyCommand({ KeyId: one.keyId, PolicyName: 'default', Policy: shared }));
    for (const k of [one, two]) expect((await encrypt(k)).KeyId).toBe(k.arn);
  });

  it('refuses a malformed key policy or an unknown condition operator with MalformedPolicyDocumentException', async () => {
    const key = await keyWithPolicy(owner);
    for (const bad of ['{not json', policy({ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringEqualsMaybe: { 'kms:CallerAccount': ACCOUNT } } })]) {
      const denied = await refusal(owner.kms.send(new PutKeyPolicyCommand({ KeyId: key.keyId, PolicyName: 'default', Policy: bad })));
      expect(denied).toMatchObject({ name: 'MalformedPolicyDocumentException', status: 400 });
    }
  });
});

describe('condition context', () => {
  it('has the caller’s tags, the key’s tags and aliases, the alias named, the source address and the transport', async () => {
    const key = (await owner.kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'blue' }] }))).KeyMetadata!;
    await owner.kms.send(new CreateAliasCommand({ AliasName: 'alias/blue-key', TargetKeyId: key.KeyId }));
    await owner.kms.send(
      new PutKeyPolicyCommand({
        KeyId: key.KeyId,
        PolicyName: 'default',
        Policy: policy(ACCOUNT_ADMIN, {
          Sid: 'SameTeamByAlias',
          Effect: 'Allow',
          Principal: { AWS: app.arn },
          Action: 'kms:Encrypt',
          Resource: '*',
          Condition: {
            StringEquals: { 'aws:ResourceTag/team': '${aws:PrincipalTag/team}', 'kms:RequestAlias': 'alias/blue-key', 'aws:username': 'app' },
            'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/blue-key' },
            IpAddress: { 'aws:SourceIp': '127.0.0.0/8' },
            Bool: { 'aws:SecureTransport': 'false' },
            StringLike: { 'aws:UserAgent': '*aws-sdk-js*' },
          },
        }),
      }),
    );
    const encrypt = (keyId: string) => app.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('t') }));
    // No team tag on the caller yet.
    expect((await refusal(encrypt('alias/blue-key'))).name).toBe('AccessDeniedException');
    await officer.admin.call('TagPrincipal', { UserName: 'app', Tags: [{ TagKey: 'team', TagValue: 'blue' }] });
    expect((await encrypt('alias/blue-key')).KeyId).toBe(key.Arn);
    expect((await encrypt(`arn:aws:kms:${server.region}:${ACCOUNT}:alias/blue-key`)).KeyId).toBe(key.Arn);
    // By key id, kms:RequestAlias is absent: the condition fails.
    expect((await refusal(encrypt(key.KeyId!))).name).toBe('AccessDeniedException');
    await officer.admin.call('UntagPrincipal', { UserName: 'app', TagKeys: ['team'] });
    expect((await refusal(encrypt('alias/blue-key'))).name).toBe('AccessDeniedException');
  });
  it('has aws:userid: a user’s unique id (AIDA…), the account id for the root, as GetCallerIdentity reports them', async () => {
    const me = await app.admin.call('GetCallerIdentity', {});
    expect(me.UserId).toMatch(/^AIDA[A-Z2-7]{17}$/);
    expect((await root.admin.call('GetCallerIdentity', {})).UserId).toBe(ACCOUNT);
    expect(((await officer.admin.call('GetPrincipal', { UserName: 'app' })).Principal as { UserId: string }).UserId).toBe(me.UserId);
    const key = await keyWithPolicy(
      owner,
      policy(ACCOUNT_ADMIN, {
        Sid: 'ByUniqueId',
        Effect: 'Allow',
        Principal: { AWS: app.arn },
        Action: 'kms:Encrypt',
        Resource: '*',
        Condition: { StringEquals: { 'aws:userid': me.UserId } },
      }),
    );
    await app.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('u') }));
    // The root's aws:userid is the account: a Deny on it fences the root off Encrypt.
    const fenced = await keyWithPolicy(
      owner,
      policy(ACCOUNT_ADMIN, { Sid: 'NotTheRoot', Effect: 'Deny', Principal: '*', Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'aws:userid': ACCOUNT } } }),
    );
    expect((await refusal(root.kms.send(new EncryptCommand({ KeyId: fenced.keyId, Plaintext: Buffer.from('u') })))).name).toBe('AccessDeniedException');
    await owner.kms.send(new EncryptCommand({ KeyId: fenced.keyId, Plaintext: Buffer.from('u') }));
  });

  it('sets kms:RequestAlias for using a key by its alias, never for managing aliases (as AWS)', async () => {
    const key = (await owner.kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await owner.kms.send(new CreateAliasCommand({ AliasName: 'alias/ra-first', TargetKeyId: key.KeyId }));
    // The owner may do anything with its key, except whatever names it by an alias.
    await owner.kms.send(
      new PutKeyPolicyCommand({
        KeyId: key.KeyId,
        PolicyName: 'default',
        Policy: policy(ACCOUNT_ADMIN, {
          Sid: 'NoAliasUse',
          Effect: 'Deny',
          Principal: { AWS: owner.arn },
          Action: 'kms:*',
          Resource: '*',
          Condition: { Null: { 'kms:RequestAlias': 'false' } },
        }),
      }),
    );
    expect((await refusal(owner.kms.send(new EncryptCommand({ KeyId: 'alias/ra-first', Plaintext: Buffer.from('t') })))).name).toBe('AccessDeniedException');
    expect((await refusal(owner.kms.send(new DescribeKeyCommand({ KeyId: 'alias/ra-first' })))).name).toBe('AccessDeniedException');
    await owner.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('t') }));
    // Alias management names aliases, but carries no kms:RequestAlias: the Deny does not apply.
    await owner.kms.send(new CreateAliasCommand({ AliasName: 'alias/ra-second', TargetKeyId: key.KeyId }));
    await owner.kms.send(new UpdateAliasCommand({ AliasName: 'alias/ra-second', TargetKeyId: key.KeyId }));
    await owner.kms.send(new DeleteAliasCommand({ AliasName: 'alias/ra-second' }));
  });
});

describe('identity policies through the root delegation', () => {
  it('allow a principal when the key policy allows the account, and only then', async () => {
    const delegated = await keyWithPolicy(owner); // the default policy: the account root, kms:*
    const ownerOnly = await keyWithPolicy(owner, policy({ Sid: 'OwnerOnly', Effect: 'Allow', Principal: { AWS: owner.arn }, Action: 'kms:*', Resource: '*' }));
    const encrypt = (keyId: string) => app.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('d') }));

    const before = await refusal(encrypt(delegated.keyId));
    expect(before.message).toBe(
      `User: ${app.arn} is not authorized to perform: kms:Encrypt on resource: ${delegated.arn} because no identity-based policy allows the kms:Encrypt action`,
    );
    await officer.admin.call('PutPrincipalPolicy', {
      UserName: 'app',
      PolicyName: 'encrypt-both',
      PolicyDocument: policy({ Effect: 'Allow', Action: 'kms:Encrypt', Resource: [delegated.arn, ownerOnly.arn] }),
    });
    // Effective on the very next request.
    expect((await encrypt(delegated.keyId)).KeyId).toBe(delegated.arn);
    expect((await refusal(encrypt(ownerOnly.keyId))).message).toContain('because no resource-based policy allows the kms:Encrypt action');

    // An identity-policy Deny wins over the delegation.
    await officer.admin.call('PutPrincipalPolicy', {
      UserName: 'app',
      PolicyName: 'deny-encrypt',
      PolicyDocument: policy({ Effect: 'Deny', Action: 'kms:Encrypt', Resource: '*' }),
    });
    expect((await refusal(encrypt(delegated.keyId))).message).toContain('with an explicit deny in an identity-based policy');
    await officer.admin.call('DeletePrincipalPolicy', { UserName: 'app', PolicyName: 'deny-encrypt' });
    await officer.admin.call('DeletePrincipalPolicy', { UserName: 'app', PolicyName: 'encrypt-both' });
    expect((await refusal(encrypt(delegated.keyId))).name).toBe('AccessDeniedException');
  });

  it('take effect when attached offline with `hsmkms principal put-policy` on the running server’s data directory', async () => {
    const key = await keyWithPolicy(owner);
    const file = join(server.dataDir, 'describe.json');
    await import('node:fs').then((fs) => fs.writeFileSync(file, policy({ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: key.arn })));
    expect((await refusal(app.kms.send(new DescribeKeyCommand({ KeyId: key.keyId })))).name).toBe('AccessDeniedException');
    await hsmkms(['principal', 'put-policy', 'app', '--policy-name', 'describe', '--policy-file', file, ...tokenArgs()]);
    expect((await app.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.KeyId).toBe(key.keyId);
    await officer.admin.call('DeletePrincipalPolicy', { UserName: 'app', PolicyName: 'describe' });
  }, 60_000);

  it('are refused when malformed, name a Principal, or use an unknown operator', async () => {
    const put = (doc: string) => officer.admin.call('PutPrincipalPolicy', { UserName: 'app', PolicyName: 'bad', PolicyDocument: doc });
    for (const doc of [
      '[]',
      policy({ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }),
      policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*', Condition: { StringEqualz: { 'kms:CallerAccount': ACCOUNT } } }),
    ])
      expect(await refusal(put(doc))).toMatchObject({ name: 'MalformedPolicyDocumentException', status: 400 });
    const got = await officer.admin.call('GetPrincipal', { UserName: 'app' });
    expect((got.Principal as { Policies: unknown[] }).Policies.map((p) => (p as { PolicyName: string }).PolicyName)).not.toContain('bad');
  });
});

describe('roles', () => {
  it('never let a CryptoOfficer use a key, whatever the key policy says; it may describe and list keys', async () => {
    const key = await keyWithPolicy(owner, policy(ACCOUNT_ADMIN, { Sid: 'Officer', Effect: 'Allow', Principal: { AWS: officer.arn }, Action: 'kms:*', Resource: '*' }));
    const enc = await owner.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('o') }));
    // One call at a time: a second call sent at once could be refused before the first is
    // awaited, with nothing yet handling its rejection.
    for (const attempt of [
      () => officer.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })),
      () => officer.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('o') })),
    ]) {
      const denied = await refusal(attempt());
      expect(denied.name).toBe('AccessDeniedException');
      expect(denied.message).toMatch(/^User: arn:aws:iam::111122223333:user\/officer is not authorized to perform: kms:(De|En)crypt on resource: .* because the CryptoOfficer role may never perform key use$/);
    }
    expect((await officer.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.KeyId).toBe(key.keyId);
    expect((await officer.kms.send(new ListKeysCommand({}))).Keys?.some((k) => k.KeyId === key.keyId)).toBe(true);
    expect((await refusal(officer.kms.send(new CreateKeyCommand({})))).name).toBe('AccessDeniedException');
  });

  it('let an Auditor describe any key but not encrypt, create keys or manage principals', async () => {
    const key = await keyWithPolicy(owner, policy({ Sid: 'OwnerOnly', Effect: 'Allow', Principal: { AWS: owner.arn }, Action: 'kms:*', Resource: '*' }));
    expect((await auditor.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.KeyId).toBe(key.keyId);
    expect((await refusal(auditor.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('a') })))).name).toBe('AccessDeniedException');
    expect((await refusal(auditor.kms.send(new CreateKeyCommand({})))).name).toBe('AccessDeniedException');
    expect((await refusal(auditor.admin.call('CreatePrincipal', { UserName: 'sneaky' }))).name).toBe('AccessDeniedException');
    expect((await auditor.admin.call('GetPrincipal', { UserName: 'owner' })).Principal).toMatchObject({ Arn: owner.arn });
  });

  it('let a CryptoUser create keys and random bytes with no policy, but not manage principals', async () => {
    expect((await app.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }))).Plaintext).toHaveLength(8);
    expect((await refusal(app.admin.call('CreatePrincipal', { UserName: 'other' }))).message).toBe(
      `User: ${app.arn} is not authorized to perform: hsmkms:CreatePrincipal on resource: * because none of the caller's roles allows principal administration`,
    );
    expect((await refusal(app.admin.call('ExplainAuthorization', { UserName: 'app', Action: 'kms:ListKeys' }))).name).toBe('AccessDeniedException');
  });

  it('apply a role change on the principal’s next request', async () => {
    const temp = await createPrincipal(officer, 'temp');
    await temp.kms.send(new CreateKeyCommand({}));
    await officer.admin.call('UpdatePrincipalRoles', { UserName: 'temp', Roles: ['Auditor'] });
    expect((await refusal(temp.kms.send(new CreateKeyCommand({})))).name).toBe('AccessDeniedException');
    await officer.admin.call('UpdatePrincipalRoles', { UserName: 'temp', Roles: ['CryptoUser'] });
    await temp.kms.send(new CreateKeyCommand({}));
    expect(await refusal(officer.admin.call('UpdatePrincipalRoles', { UserName: 'temp', Roles: ['CryptoOfficer', 'CryptoUser'] }))).toMatchObject({
      name: 'ValidationException',
    });
  });
});

describe('ownership', () => {
  it('lets a CryptoUser do everything with the keys it created, shown by GetPrincipal, and nothing with others’', async () => {
    const mine = await keyWithPolicy(app);
    const enc = await app.kms.send(new EncryptCommand({ KeyId: mine.keyId, Plaintext: Buffer.from('own') }));
    expect(Buffer.from((await app.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext!).toString()).toBe('own');
    await app.kms.send(new CreateAliasCommand({ AliasName: 'alias/app-own', TargetKeyId: mine.keyId }));
    expect((await app.kms.send(new DescribeKeyCommand({ KeyId: 'alias/app-own' }))).KeyMetadata?.KeyId).toBe(mine.keyId);
    // The owner's key is not the other user's.
    expect((await refusal(owner.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).name).toBe('AccessDeniedException');
    const got = (await officer.admin.call('GetPrincipal', { UserName: 'app' })).Principal as { OwnedKeyCount: number; AccessKeys: Array<{ AccessKeyId: string }> };
    expect(got.OwnedKeyCount).toBeGreaterThanOrEqual(1);
    expect(got.AccessKeys.map((k) => k.AccessKeyId)).toEqual([app.credentials.accessKeyId]);
    expect(JSON.stringify(got)).not.toContain(app.credentials.secretAccessKey);
    await app.kms.send(new ScheduleKeyDeletionCommand({ KeyId: mine.keyId, PendingWindowInDays: 7 }));
  });
});

describe('explain', () => {
  it('names the decision, the statement and the conditions with the values compared', async () => {
    const key = await keyWithPolicy(owner, policy(ACCOUNT_ADMIN, tenantA('kms:Decrypt')));
    const ask = async (by: Caller, tenant: string) =>
      (await by.admin.call('ExplainAuthorization', { PrincipalArn: app.arn, Action: 'kms:Decrypt', KeyId: key.keyId, EncryptionContext: { tenant } }))
        .Explanation as Record<string, unknown>;

    const allowed = await ask(officer, 'a');
    expect(allowed).toMatchObject({ Decision: 'Allow', DecidedBy: 'key-policy', Resource: key.arn, KeyOwner: owner.arn });
    expect(allowed.DecisiveStatements).toEqual([{ Policy: 'key-policy', PolicyType: 'key', Sid: 'TenantA', Index: 1, Effect: 'Allow' }]);

    const denied = await ask(auditor, 'b');
    // The key policy delegates to the account, so the missing allow is on the identity side.
    expect(denied).toMatchObject({ Decision: 'ImplicitDeny', DecidedBy: 'identity-policy' });
    expect(denied.Message).toContain('because no identity-based policy allows the kms:Decrypt action');
    const tenant = (denied.Statements as Array<{ Sid?: string; Applies: boolean; Conditions: unknown[] }>).find((s) => s.Sid === 'TenantA')!;
    expect(tenant.Applies).toBe(false);
    expect(tenant.Conditions).toEqual([{ Operator: 'StringEquals', Key: 'kms:EncryptionContext:tenant', PolicyValues: ['a'], RequestValues: 'b', Held: false }]);

    const officerDecrypt = (await officer.admin.call('ExplainAuthorization', { UserName: 'officer', Action: 'kms:Decrypt', KeyId: key.keyId }))
      .Explanation as Record<string, unknown>;
    expect(officerDecrypt).toMatchObject({ Decision: 'ImplicitDeny', DecidedBy: 'role', RoleRule: { Rule: 'never', Role: 'CryptoOfficer', Category: 'key use' } });

    const own = (await officer.admin.call('ExplainAuthorization', { UserName: 'owner', Action: 'kms:ScheduleKeyDeletion', KeyId: key.keyId }))
      .Explanation as Record<string, unknown>;
    expect(own).toMatchObject({ Decision: 'Allow' });
  });

  it('answers unknown principals, actions and keys with AWS-style 400s', async () => {
    for (const [input, name] of [
      [{ UserName: 'nobody', Action: 'kms:ListKeys' }, 'NotFoundException'],
      [{ UserName: 'app', Action: 'not an action' }, 'ValidationException'],
      [{ UserName: 'app', Action: 'kms:Decrypt' }, 'ValidationException'],
      [{ UserName: 'app', Action: 'kms:Decrypt', KeyId: '00000000-0000-0000-0000-000000000000' }, 'NotFoundException'],
      [{ Action: 'kms:ListKeys' }, 'ValidationException'],
    ] as const)
      expect(await refusal(officer.admin.call('ExplainAuthorization', input))).toMatchObject({ name, status: 400 });
  });
});

describe('administration API', () => {
  it('manages principals and access keys with AWS-style errors', async () => {
    expect(await refusal(officer.admin.call('CreatePrincipal', { UserName: 'owner' }))).toMatchObject({ name: 'AlreadyExistsException', status: 400 });
    expect(await refusal(officer.admin.call('CreatePrincipal', { UserName: 'bad name' }))).toMatchObject({ name: 'ValidationException' });
    expect(await refusal(officer.admin.call('CreatePrincipal', { UserName: 'x', Roles: ['Root'] }))).toMatchObject({ name: 'ValidationException' });
    expect(await refusal(officer.admin.call('GetPrincipal', { UserName: 'nobody' }))).toMatchObject({ name: 'NotFoundException', status: 400 });
    expect(await refusal(officer.admin.call('NoSuchOperation', {}))).toMatchObject({ name: 'UnknownOperationException' });

    const rotating = await createPrincipal(officer, 'rotating');
    const second = await officer.admin.call('CreateAccessKey', { UserName: 'rotating' });
    expect(await refusal(officer.admin.call('CreateAccessKey', { UserName: 'rotating' }))).toMatchObject({ name: 'LimitExceededException' });
    await rotating.kms.send(new ListKeysCommand({}));
    await officer.admin.call('DeleteAccessKey', { UserName: 'rotating', AccessKeyId: rotating.credentials.accessKeyId });
    // Refused on its next request, although the server had it in its credential cache.
    expect((await refusal(rotating.kms.send(new ListKeysCommand({})))).name).toBe('UnrecognizedClientException');
    const key = (second.AccessKey as { AccessKeyId: string; SecretAccessKey: string });
    const renewed = caller(rotating.arn, { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });
    await renewed.kms.send(new ListKeysCommand({}));

    const page = await officer.admin.call('ListPrincipals', { Limit: 2 });
    expect(page.Principals).toHaveLength(2);
    expect(page.Truncated).toBe(true);
    const rest = await officer.admin.call('ListPrincipals', { Marker: page.NextMarker });
    const names = [...(page.Principals as Array<{ UserName: string }>), ...(rest.Principals as Array<{ UserName: string }>)].map((p) => p.UserName);
    expect(names).toEqual(expect.arrayContaining(['root', 'officer', 'auditor', 'owner', 'app', 'rotating']));
    expect(await refusal(officer.admin.call('ListPrincipals', { Marker: 'garbage' }))).toMatchObject({ name: 'InvalidMarkerException' });

    await officer.admin.call('DeletePrincipal', { UserName: 'rotating' });
    expect((await refusal(renewed.kms.send(new ListKeysCommand({})))).name).toBe('UnrecognizedClientException');
  });

  it('tells every caller who it is (GetCallerIdentity), with its current roles and the signing key, and never refuses it by role', async () => {
    expect(await root.admin.call('GetCallerIdentity')).toEqual({
      Account: ACCOUNT,
      Arn: ROOT,
      // STS's UserId: the account id for the root, the unique id for a user.
      UserId: ACCOUNT,
      UserName: 'root',
      Roles: expect.any(Array),
      Root: true,
      AccessKeyId: root.credentials.accessKeyId,
    });
    for (const [who, roles] of [[officer, ['CryptoOfficer']], [auditor, ['Auditor']], [app, ['CryptoUser']]] as const)
      expect(await who.admin.call('GetCallerIdentity', {})).toEqual({
        Account: ACCOUNT,
        Arn: who.arn,
        UserId: expect.stringMatching(/^AIDA[A-Z2-7]{17}$/),
        UserName: who.arn.split('/')[1],
        Roles: roles,
        Root: false,
        AccessKeyId: who.credentials.accessKeyId,
      });
    // A quorum rule for every hsmkms action does not make asking who one is wait for approval.
    expect(await refusal(officer.admin.call('PutQuorumRule', { Action: 'hsmkms:GetCallerIdentity', MinApprovals: 1, Approvers: ['auditor'] }))).toMatchObject({
      name: 'ValidationException',
    });
  });

  it('accepts a principal created offline with `hsmkms principal create` on the running server’s data directory', async () => {
    const { stdout } = await hsmkms(['principal', 'create', 'cli-made', ...tokenArgs()]);
    const created = JSON.parse(stdout) as { arn: string; accessKeyId: string; secretAccessKey: string };
    expect(Object.keys(created).sort()).toEqual(['accessKeyId', 'arn', 'secretAccessKey']);
    const cli = caller(created.arn, created);
    const key = await keyWithPolicy(cli);
    expect((await cli.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('c') }))).KeyId).toBe(key.arn);

    // The same command against the endpoint, with the caller's own credentials: authorized like any call.
    const asOfficer = { AWS_ACCESS_KEY_ID: officer.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: officer.credentials.secretAccessKey, AWS_REGION: server.region };
    const shown = JSON.parse((await hsmkms(['principal', 'get', 'cli-made', '--endpoint', server.endpoint], asOfficer)).stdout);
    expect(shown).toMatchObject({ arn: created.arn, roles: ['CryptoUser'], ownedKeys: 1 });
    const asApp = { ...asOfficer, AWS_ACCESS_KEY_ID: app.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: app.credentials.secretAccessKey };
    const refused = await hsmkms(['principal', 'delete', 'cli-made', '--endpoint', server.endpoint], asApp).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(refused).toMatch(/^hsmkms: AccessDeniedException: User: arn:aws:iam::111122223333:user\/app is not authorized to perform: hsmkms:DeletePrincipal/);
  }, 90_000);
});

describe('audit trail', () => {
  it('records allowed and denied calls with the decision, and AccessDenied as CloudTrail writes it, in the chained trail', async () => {
    const key = await keyWithPolicy(owner);
    await owner.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }));
    await refusal(app.kms.send(new DescribeKeyCommand({ KeyId: key.keyId })));
    // Records are durable before the answer: the written trail already holds both calls.
    const dir = join(server.dataDir, 'audit');
    const records: Record<string, any>[] = lookupAuditEvents(dir, { eventName: 'DescribeKey', key: key.keyId })
      .events.map((e) => JSON.parse(e.line) as Record<string, any>)
      .filter((r) => r.requestParameters?.KeyId === key.keyId);
    expect(records).toHaveLength(2);
    const allowed = records.find((r) => r.userIdentity.arn === owner.arn)!;
    expect(allowed.errorCode).toBeUndefined();
    expect(allowed.additionalEventData.authorization).toEqual([
      { action: 'kms:DescribeKey', resource: key.arn, decision: 'Allow', decidedBy: 'owner' },
    ]);
    const denied = records.find((r) => r.userIdentity.arn === app.arn)!;
    expect(denied.errorCode).toBe('AccessDenied');
    expect(denied.additionalEventData.authorization).toEqual([
      { action: 'kms:DescribeKey', resource: key.arn, decision: 'ImplicitDeny', decidedBy: 'identity-policy' },
    ]);
    // The decisions are part of the chained lines, not beside them: the trail still verifies.
    const report = verifyAuditTrail({ dir });
    expect(report.findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(report.ok).toBe(true);
  });
});

describe('offline administration on the data directory (break-glass)', () => {
  const auditDir = () => join(server.dataDir, 'audit');
  const records = (eventName: string) => lookupAuditEvents(auditDir(), { eventName }).events.map((e) => JSON.parse(e.line) as Record<string, any>);
  const operator = () => ({ type: 'Operator', arn: ROOT, accountId: ACCOUNT, invokedBy: 'hsmkms-cli', userName: `${userInfo().username}@${hostname()}` });
  const cliFailure = (args: string[]) =>
    hsmkms(args).then(
      () => {
        throw new Error(`expected hsmkms ${args[0]} ${args[1]} to fail`);
      },
      (error: { code: number; stderr: string }) => error,
    );

  it('audits offline commands, done or refused, naming the operator, in the same verifiable trail', async () => {
    await hsmkms(['principal', 'create', 'offline-audited', ...tokenArgs()]);
    const refused = await cliFailure(['principal', 'create', 'offline-audited', ...tokenArgs()]);
    expect(refused.code).toBe(1);
    const created = records('HsmKms.CreatePrincipal').filter((r) => r.requestParameters?.UserName === 'offline-audited');
    expect(created).toHaveLength(2);
    for (const record of created)
      expect(record).toMatchObject({ eventType: 'AwsApiCall', userIdentity: operator(), userAgent: 'hsmkms-cli/0.1.0 (offline)', nodeId: expect.stringMatching(/-cli\d$/) });
    expect(created.map((r) => r.errorCode ?? 'ok').sort()).toEqual(['AlreadyExistsException', 'ok']);
    // No secret of the new principal in the trail.
    expect(JSON.stringify(created)).not.toMatch(/SecretAccessKey/);
    const report = verifyAuditTrail({ dir: auditDir() });
    expect(report.findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(report.ok).toBe(true);
  }, 60_000);

  it('`hsmkms key put-policy` restores a key whose policy locks everyone out, beside the running server, audited', async () => {
    const key = await keyWithPolicy(owner);
    const denyAll = policy({ Sid: 'LockedOut', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*' });
    await owner.kms.send(new PutKeyPolicyCommand({ KeyId: key.keyId, PolicyName: 'default', Policy: denyAll, BypassPolicyLockoutSafetyCheck: true }));
    expect((await refusal(owner.kms.send(new DescribeKeyCommand({ KeyId: key.keyId })))).name).toBe('AccessDeniedException');
    expect((await refusal(root.kms.send(new PutKeyPolicyCommand({ KeyId: key.keyId, PolicyName: 'default', Policy: policy(ACCOUNT_ADMIN) })))).name).toBe(
      'AccessDeniedException',
    );

    // The safety check still applies offline unless bypassed; bad input is a message, not a trace.
    const lockout = join(server.dataDir, 'lockout.json');
    writeFileSync(lockout, denyAll);
    const unsafe = await cliFailure(['key', 'put-policy', key.keyId, '--policy-file', lockout, ...tokenArgs()]);
    expect(unsafe.stderr).toMatch(/^hsmkms: The new key policy will not allow you to update the key policy in the future\. Give --bypass-policy-lockout-safety-check/);
    const restored = join(server.dataDir, 'restored.json');
    writeFileSync(restored, policy(ACCOUNT_ADMIN));
    const missing = await cliFailure(['key', 'put-policy', '1234abcd-12ab-34cd-56ef-1234567890ab', '--policy-file', restored, ...tokenArgs()]);
    expect(missing.stderr).toMatch(/^hsmkms: .*1234abcd-12ab-34cd-56ef-1234567890ab.*not (exist|found)/i);
    expect(missing.stderr).not.toMatch(/\n\s+at /);

    await hsmkms(['key', 'put-policy', key.arn, '--policy-file', restored, ...tokenArgs()]);
    // The running server honours it on the next request.
    expect((await owner.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.KeyId).toBe(key.keyId);
    expect(JSON.parse((await root.kms.send(new GetKeyPolicyCommand({ KeyId: key.keyId, PolicyName: 'default' }))).Policy!)).toEqual(JSON.parse(policy(ACCOUNT_ADMIN)));

    const audited = records('PutKeyPolicy').filter((r) => r.userIdentity.type === 'Operator' && [key.keyId, key.arn].includes(r.requestParameters?.KeyId));
    expect(audited.map((r) => r.errorCode ?? 'ok').sort()).toEqual(['MalformedPolicyDocumentException', 'ok']);
    for (const record of audited) expect(record).toMatchObject({ userIdentity: operator(), requestParameters: { KeyId: expect.any(String) } });
  }, 90_000);
});

/** `--data-dir` and the run's token for CLI commands on the test server's data directory. */
function tokenArgs(): string[] {
  return ['--data-dir', server.dataDir, ...testTokenArgs()];
}
