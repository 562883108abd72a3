/**
 * Grants through the real AWS SDK: principals made with HsmKms.CreatePrincipal, a key owned by
 * one of them, grants for another, used with and without grant tokens, retired and revoked;
 * paging, Name retries, CreateGrant through a grant, and AWS's 400s for bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ListGrantsCommand,
  ListRetirableGrantsCommand,
  PutKeyPolicyCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  type GrantListEntry,
} from '@aws-sdk/client-kms';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { sdkFailure as failure } from '../support/errors.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
let root: KMSClient;
const clients: KMSClient[] = [];
const arns: Record<string, string> = {};
const kms: Record<string, KMSClient> = {};

async function principal(name: string, roles = ['CryptoUser']): Promise<void> {
  const admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  const out = (await admin.call('CreatePrincipal', { UserName: name, Roles: roles })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
  arns[name] = out.Arn;
  const client = new KMSClient({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey },
    maxAttempts: 1,
  });
  clients.push(client);
  kms[name] = client;
}

async function ownedKey(): Promise<string> {
  const { KeyMetadata } = await kms.owner!.send(new CreateKeyCommand({ Description: 'grants test' }));
  return KeyMetadata!.KeyId!;
}

beforeAll(async () => {
  server = await startServer();
  root = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  for (const name of ['owner', 'app', 'retirer', 'third']) await principal(name);
});
afterAll(async () => {
  for (const c of [root, ...clients]) c?.destroy();
  await server?.close();
});

describe('grants through @aws-sdk/client-kms', () => {
  it('allows the grantee exactly the granted operation under an EncryptionContextSubset constraint', async () => {
    const keyId = await ownedKey();
    const context = { tenant: 'a', purpose: 'orders' };
    const { CiphertextBlob } = await kms.owner!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('grant me'), EncryptionContext: context }));
    const other = await kms.owner!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('not you'), EncryptionContext: { tenant: 'b' } }));
    expect(await failure(kms.app!.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context })))).toMatchObject({ name: 'AccessDeniedException', status: 400 });

    const { GrantId } = await kms.owner!.send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { tenant: 'a' } } }),
    );
    expect(GrantId).toMatch(/^[0-9a-f]{64}$/);
    const decrypted = await kms.app!.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(decrypted.Plaintext!).toString()).toBe('grant me');
    // Outside the constraint, and for operations the grant does not list: refused.
    expect(await failure(kms.app!.send(new DecryptCommand({ CiphertextBlob: other.CiphertextBlob, EncryptionContext: { tenant: 'b' } })))).toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(await failure(kms.app!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), EncryptionContext: context })))).toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(await failure(kms.third!.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context })))).toMatchObject({ name: 'AccessDeniedException' });
  });

  it('honours a grant token at once, rejects garbage and altered tokens with InvalidGrantTokenException, and a token is no bearer credential', async () => {
    const keyId = await ownedKey();
    const created = await kms.owner!.send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, Operations: ['GenerateDataKey', 'Decrypt'], RetiringPrincipal: arns.retirer }),
    );
    // The very next call, naming the grant by its token.
    const dataKey = await kms.app!.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', GrantTokens: [created.GrantToken!] }));
    expect(dataKey.Plaintext).toHaveLength(32);
    const token = created.GrantToken!;
    const altered = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
    for (const bad of ['garbage', altered, 'A'.repeat(300)]) {
      expect(await failure(kms.app!.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', GrantTokens: [bad] })))).toMatchObject({
        name: 'InvalidGrantTokenException',
        status: 400,
      });
      // Even when a policy (here: ownership) allows the call, as AWS does.
      expect(await failure(kms.owner!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x'), GrantTokens: [bad] })))).toMatchObject({
        name: 'InvalidGrantTokenException',
      });
    }
    // Another principal holding the token gets nothing from it.
    expect(await failure(kms.third!.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', GrantTokens: [token] })))).toMatchObject({
      name: 'AccessDeniedException',
    });
    expect(server.logs()).not.toContain(token);
  });

  it('stops allowing once retired by the retiring principal (by id) or by the grantee (by token), and once revoked', async () => {
    const keyId = await ownedKey();
    const { CiphertextBlob } = await kms.owner!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    const grant = (input: { retiring?: boolean; ops?: string[] } = {}) =>
      kms.owner!.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: arns.app,
          Operations: (input.ops ?? ['Decrypt']) as never,
          ...(input.retiring ? { RetiringPrincipal: arns.retirer } : {}),
        }),
      );
    const decrypt = () => kms.app!.send(new DecryptCommand({ CiphertextBlob }));

    const byRetirer = await grant({ retiring: true });
    await decrypt();
    // Neither the grantee (the grant lacks RetireGrant) nor a stranger may retire it.
    expect(await failure(kms.app!.send(new RetireGrantCommand({ KeyId: keyId, GrantId: byRetirer.GrantId })))).toMatchObject({ name: 'AccessDeniedException' });
    expect(await failure(kms.third!.send(new RetireGrantCommand({ GrantToken: byRetirer.GrantToken })))).toMatchObject({ name: 'AccessDeniedException' });
    await kms.retirer!.send(new RetireGrantCommand({ KeyId: keyId, GrantId: byRetirer.GrantId }));
    expect(await failure(decrypt())).toMatchObject({ name: 'AccessDeniedException' });
    expect(await failure(kms.retirer!.send(new RetireGrantCommand({ KeyId: keyId, GrantId: byRetirer.GrantId })))).toMatchObject({
      name: 'InvalidGrantIdException',
      status: 400,
    });

    const byGrantee = await grant({ ops: ['Decrypt', 'RetireGrant'] });
    await decrypt();
    await kms.app!.send(new RetireGrantCommand({ GrantToken: byGrantee.GrantToken }));
    expect(await failure(decrypt())).toMatchObject({ name: 'AccessDeniedException' });

    const revoked = await grant();
    await decrypt();
    // RevokeGrant is for key administrators, not for the grantee.
    expect(await failure(kms.app!.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: revoked.GrantId })))).toMatchObject({ name: 'AccessDeniedException' });
    await kms.owner!.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: revoked.GrantId }));
    expect(await failure(decrypt())).toMatchObject({ name: 'AccessDeniedException' });
    // Its token now names nothing.
    expect(await failure(kms.app!.send(new DecryptCommand({ CiphertextBlob, GrantTokens: [revoked.GrantToken!] })))).toMatchObject({ name: 'AccessDeniedException' });
    expect(await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId }))).toMatchObject({ Grants: [], Truncated: false });
  });

  it('lets an identity-policy Deny on kms:RetireGrant stop even the retiring principal, ignores the key policy, and lets quorum guard it', async () => {
    const admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
    const keyId = await ownedKey();
    const keyArn = (await kms.owner!.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn!;
    const grant = () => kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, RetiringPrincipal: arns.retirer, Operations: ['Decrypt', 'RetireGrant'] }));
    const retire = (who: KMSClient, g: { GrantId?: string }) => who.send(new RetireGrantCommand({ KeyId: keyId, GrantId: g.GrantId }));
    const denyRetire = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'kms:RetireGrant', Resource: '*' }] });

    // AWS: kms:RetireGrant is not effective in a key policy, neither its Deny nor its Allow.
    await kms.owner!.send(
      new PutKeyPolicyCommand({
        KeyId: keyId,
        PolicyName: 'default',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Sid: 'Account', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
            { Sid: 'NoRetiring', Effect: 'Deny', Principal: '*', Action: 'kms:RetireGrant', Resource: '*' },
          ],
        }),
      }),
    );
    await retire(kms.retirer!, await grant());

    // An identity-policy Deny stops the retiring principal and the grantee alike, with AWS's message.
    const kept = await grant();
    for (const who of ['retirer', 'app']) await admin.call('PutPrincipalPolicy', { UserName: who, PolicyName: 'no-retire', PolicyDocument: denyRetire });
    const denied = await failure(retire(kms.retirer!, kept));
    expect(denied).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    expect(denied.message).toBe(`User: ${arns.retirer} is not authorized to perform: kms:RetireGrant on resource: ${keyArn} with an explicit deny in an identity-based policy`);
    expect(await failure(kms.app!.send(new RetireGrantCommand({ GrantToken: kept.GrantToken })))).toMatchObject({ name: 'AccessDeniedException' });
    expect((await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId, GrantId: kept.GrantId }))).Grants).toHaveLength(1);
    for (const who of ['retirer', 'app']) await admin.call('DeletePrincipalPolicy', { UserName: who, PolicyName: 'no-retire' });

    // A quorum rule guards RetireGrant like any key action.
    const rule = (await admin.call('PutQuorumRule', { Action: 'kms:RetireGrant', KeyId: keyId, MinApprovals: 1, Approvers: ['third'] })).Rule as { RuleId: string };
    const guarded = await failure(retire(kms.retirer!, kept));
    expect(guarded).toMatchObject({ name: 'QuorumApprovalRequiredException', status: 400 });
    await admin.call('DeleteQuorumRule', { RuleId: rule.RuleId });
    await retire(kms.retirer!, kept);
    expect((await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId }))).Grants).toEqual([]);

    // A grant listing RetireGrant lets its grantee retire that grant only, not another on the key.
    const mine = await grant();
    const other = await kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.third, Operations: ['Decrypt'] }));
    expect(await failure(retire(kms.app!, other))).toMatchObject({ name: 'AccessDeniedException' });
    await retire(kms.app!, mine);

    // The account delegates retiring through an identity policy: a principal the grant does not name.
    const allowRetire = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:RetireGrant', Resource: keyArn }] });
    expect(await failure(retire(kms.retirer!, other))).toMatchObject({ name: 'AccessDeniedException' });
    await admin.call('PutPrincipalPolicy', { UserName: 'retirer', PolicyName: 'may-retire', PolicyDocument: allowRetire });
    await retire(kms.retirer!, other);
    await admin.call('DeletePrincipalPolicy', { UserName: 'retirer', PolicyName: 'may-retire' });
    expect((await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId }))).Grants).toEqual([]);

    // Explained without a grant: the account root may retire any grant, the key's owner its key's, others need a policy.
    const explain = async (principal: string) =>
      ((await admin.call('ExplainAuthorization', { PrincipalArn: principal, Action: 'kms:RetireGrant', KeyId: keyId })).Explanation as { Decision: string; DecidedBy: string });
    expect(await explain('arn:aws:iam::111122223333:root')).toMatchObject({ Decision: 'Allow', DecidedBy: 'root' });
    expect(await explain(arns.owner!)).toMatchObject({ Decision: 'Allow', DecidedBy: 'owner' });
    expect(await explain(arns.third!)).toMatchObject({ Decision: 'ImplicitDeny' });
  });

  it('lists grants page by page and filtered, and retirable grants across keys', async () => {
    const keyId = await ownedKey();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const grantee = i === 2 ? arns.third! : arns.app!;
      const out = await kms.owner!.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: grantee,
          RetiringPrincipal: arns.retirer,
          Operations: ['Encrypt', 'DescribeKey'],
          Constraints: i === 0 ? { EncryptionContextEquals: { n: String(i) } } : undefined,
          Name: `page-${i}`,
        }),
      );
      ids.push(out.GrantId!);
    }
    const seen: GrantListEntry[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId, Limit: 2, Marker: marker }));
      pages += 1;
      expect(page.Grants!.length).toBeLessThanOrEqual(2);
      expect(page.Truncated).toBe(page.NextMarker !== undefined);
      seen.push(...page.Grants!);
      marker = page.NextMarker;
    } while (marker);
    expect(pages).toBe(3);
    expect(seen.map((g) => g.GrantId)).toEqual(ids);
    expect(seen[0]).toMatchObject({
      KeyId: expect.stringMatching(new RegExp(`:key/${keyId}$`)),
      Name: 'page-0',
      GranteePrincipal: arns.app,
      RetiringPrincipal: arns.retirer,
      IssuingAccount: 'arn:aws:iam::111122223333:root',
      Operations: ['DescribeKey', 'Encrypt'],
      Constraints: { EncryptionContextEquals: { n: '0' } },
    });
    expect(seen[0]!.CreationDate).toBeInstanceOf(Date);
    const third = await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId, GranteePrincipal: arns.third }));
    expect(third.Grants!.map((g) => g.GrantId)).toEqual([ids[2]]);
    const one = await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId, GrantId: ids[4] }));
    expect(one.Grants!.map((g) => g.GrantId)).toEqual([ids[4]]);
    expect(await failure(kms.owner!.send(new ListGrantsCommand({ KeyId: keyId, Marker: 'bm90IGEgbWFya2Vy' })))).toMatchObject({
      name: 'InvalidMarkerException',
      status: 400,
    });
    // Someone without kms:ListGrants on the key sees nothing.
    expect(await failure(kms.app!.send(new ListGrantsCommand({ KeyId: keyId })))).toMatchObject({ name: 'AccessDeniedException' });

    const retirable = await root.send(new ListRetirableGrantsCommand({ RetiringPrincipal: arns.retirer, Limit: 100 }));
    expect(retirable.Grants!.map((g) => g.GrantId)).toEqual(expect.arrayContaining(ids));
  });

  it('treats a CreateGrant with the same Name and properties as a retry', async () => {
    const keyId = await ownedKey();
    const input = { KeyId: keyId, GranteePrincipal: arns.app, Operations: ['Decrypt' as const], Name: 'retry-safe' };
    const first = await kms.owner!.send(new CreateGrantCommand(input));
    const retry = await kms.owner!.send(new CreateGrantCommand(input));
    expect(retry.GrantId).toBe(first.GrantId);
    expect(retry.GrantToken).not.toBe(first.GrantToken);
    const changed = await kms.owner!.send(new CreateGrantCommand({ ...input, Operations: ['Decrypt', 'Encrypt'] }));
    expect(changed.GrantId).not.toBe(first.GrantId);
    expect((await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId }))).Grants).toHaveLength(2);
  });

  it('limits CreateGrant through a grant to the parent’s operations and an equally strict constraint', async () => {
    const keyId = await ownedKey();
    await kms.owner!.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: arns.app,
        Operations: ['CreateGrant', 'Decrypt', 'DescribeKey'],
        Constraints: { EncryptionContextSubset: { dept: 'IT' } },
      }),
    );
    const child = await kms.app!.send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.third, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { dept: 'IT', team: 'x' } } }),
    );
    expect(child.GrantId).toMatch(/^[0-9a-f]{64}$/);
    expect(
      await failure(
        kms.app!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.third, Operations: ['Encrypt'], Constraints: { EncryptionContextSubset: { dept: 'IT' } } })),
      ),
    ).toMatchObject({ name: 'AccessDeniedException' });
    expect(await failure(kms.app!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.third, Operations: ['Decrypt'] })))).toMatchObject({
      name: 'AccessDeniedException',
    });
    // DescribeKey through the grant, whose constraint does not apply to it.
    expect((await kms.app!.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyId).toBe(keyId);
  });

  it('answers bad requests with AWS 400s, never 500, and writes nothing', async () => {
    const keyId = await ownedKey();
    const { KeyMetadata: signing } = await kms.owner!.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
    const cases: Array<[Promise<unknown>, string]> = [
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, Operations: ['Sign'] })), 'ValidationException'],
      [
        kms.owner!.send(new CreateGrantCommand({ KeyId: signing!.KeyId, GranteePrincipal: arns.app, Operations: ['Sign'], Constraints: { EncryptionContextSubset: { a: 'b' } } })),
        'ValidationException',
      ],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: 'arn:aws:iam::111122223333:user/nobody', Operations: ['Decrypt'] })), 'ValidationException'],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: 'not an arn', Operations: ['Decrypt'] })), 'ValidationException'],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: 'arn:aws:s3:::bucket', Operations: ['Decrypt'] })), 'InvalidArnException'],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, Operations: ['Nope' as never] })), 'ValidationException'],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, Operations: ['Decrypt'], Name: 'no spaces' })), 'ValidationException'],
      [
        kms.owner!.send(
          new CreateGrantCommand({
            KeyId: keyId,
            GranteePrincipal: arns.app,
            Operations: ['Decrypt'],
            Constraints: { EncryptionContextSubset: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'])) },
          }),
        ),
        'ValidationException',
      ],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, Operations: ['Decrypt'], DryRun: true })), 'DryRunOperationException'],
      [kms.owner!.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: '0'.repeat(64) })), 'InvalidGrantIdException'],
      [kms.owner!.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: 'not-a-grant' })), 'InvalidGrantIdException'],
      [kms.owner!.send(new RetireGrantCommand({ KeyId: keyId, GrantId: '0'.repeat(64) })), 'InvalidGrantIdException'],
      [kms.owner!.send(new RetireGrantCommand({ GrantToken: 'garbage' })), 'InvalidGrantTokenException'],
      [kms.owner!.send(new RetireGrantCommand({ GrantId: '0'.repeat(64) })), 'ValidationException'],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: '00000000-0000-0000-0000-000000000000', GranteePrincipal: arns.app, Operations: ['Decrypt'] })), 'NotFoundException'],
      // AWS's PrincipalIdType pattern ^[\w+=,.@:/-]+$ on every principal member, not only CreateGrant's.
      [kms.owner!.send(new ListRetirableGrantsCommand({ RetiringPrincipal: 'no spaces allowed' })), 'ValidationException'],
      [kms.owner!.send(new ListRetirableGrantsCommand({ RetiringPrincipal: `${arns.retirer}\u0000` })), 'ValidationException'],
      [kms.owner!.send(new ListGrantsCommand({ KeyId: keyId, GranteePrincipal: 'user/{x}' })), 'ValidationException'],
      [kms.owner!.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: arns.app, RetiringPrincipal: 'a b', Operations: ['Decrypt'] })), 'ValidationException'],
    ];
    // Each outcome is taken as soon as it comes (a refusal nobody awaits yet is an unhandled rejection).
    const outcomes = cases.map(([promise, expected]) => [failure(promise), expected] as const);
    for (const [outcome, expected] of outcomes) expect(await outcome).toMatchObject({ name: expected, status: 400 });
    expect((await kms.owner!.send(new ListGrantsCommand({ KeyId: keyId }))).Grants).toEqual([]);
  });
});
