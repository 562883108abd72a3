// The cost of authorization on the hot path: Encrypt by a CryptoUser whose two identity policies
// (with conditions) are evaluated together with a 10-statement key policy with conditions, the
// allowing statement last; against Encrypt by the account root under the default key policy
// (one statement). Same server, same run, rounds interleaved. Target: ≥ 0.9×.
// Called by run.mjs with its helpers (`measure`, `signedBy`); `BENCH_ONLY=authz` runs only this.
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';

const ACCOUNT = '111122223333';

/** Ten statements, most with conditions, none of them mentioning tags or aliases (those cost a read). */
export function keyPolicy(benchArn) {
  const other = (name) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'KeyAdministrators',
        Effect: 'Allow',
        Principal: { AWS: [other('admin-1'), other('admin-2')] },
        Action: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'],
        Resource: '*',
      },
      { Sid: 'NoDeletionWithoutAdminTag', Effect: 'Deny', Principal: '*', Action: 'kms:ScheduleKeyDeletion', Resource: '*', Condition: { StringNotEquals: { 'aws:PrincipalTag/role': 'admin' } } },
      { Sid: 'TenantADecrypt', Effect: 'Allow', Principal: { AWS: other('tenant-a') }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:tenant': 'a' } } },
      { Sid: 'GrantsForServices', Effect: 'Allow', Principal: { AWS: other('service') }, Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'], Resource: '*', Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
      { Sid: 'TlsOnlyForPartners', Effect: 'Deny', Principal: { AWS: other('partner') }, Action: 'kms:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      { Sid: 'DescribeInAccount', Effect: 'Allow', Principal: { AWS: other('reader') }, Action: 'kms:DescribeKey', Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': ACCOUNT } } },
      { Sid: 'OfficeHours', Effect: 'Allow', Principal: { AWS: other('batch') }, Action: 'kms:GenerateDataKey*', Resource: '*', Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' }, NumericLessThan: { 'aws:EpochTime': '4102444800' } } },
      { Sid: 'NoOtherContexts', Effect: 'Deny', Principal: { AWS: benchArn }, Action: 'kms:Encrypt', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': ['forbidden', 'legacy'] } } },
      {
        Sid: 'BenchAppEncrypts',
        Effect: 'Allow',
        Principal: { AWS: benchArn },
        Action: ['kms:Encrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: { StringEquals: { 'kms:EncryptionContext:app': 'bench', 'kms:CallerAccount': ACCOUNT }, IpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } },
      },
    ],
  });
}

export const identityPolicies = [
  {
    PolicyName: 'app-crypto',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'UseAppKeys', Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: `arn:aws:kms:*:${ACCOUNT}:key/*`, Condition: { StringLike: { 'kms:EncryptionContext:app': 'b*' } } },
        { Sid: 'NeverDelete', Effect: 'Deny', Action: ['kms:ScheduleKeyDeletion', 'kms:DeleteImportedKeyMaterial'], Resource: '*' },
      ],
    }),
  },
  {
    PolicyName: 'app-guardrails',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Describe', Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:ListAliases'], Resource: '*' },
        { Sid: 'NoForeignContexts', Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:app': 'forbidden' } } },
      ],
    }),
  },
];

/**
 * Sets up the principal, its policies and the two keys, measures both sides interleaved and
 * returns the row run.mjs prints.
 */
export async function authorizationScenario({ endpoint, region, rootCredentials, admin, measure, signedBy, runs, kb }) {
  const created = await admin.call('CreatePrincipal', { UserName: 'bench-app' });
  const credentials = { accessKeyId: created.AccessKeyId, secretAccessKey: created.SecretAccessKey };
  for (const p of identityPolicies) await admin.call('PutPrincipalPolicy', { UserName: 'bench-app', ...p });
  const rootKms = new KMSClient({ endpoint, region, credentials: rootCredentials });
  try {
    const defaultKey = (await rootKms.send(new CreateKeyCommand({}))).KeyMetadata.KeyId;
    const policyKey = (await rootKms.send(new CreateKeyCommand({ Policy: keyPolicy(created.Arn) }))).KeyMetadata.KeyId;
    const asRoot = signedBy(new SignatureV4({ service: 'kms', region, credentials: rootCredentials, sha256: Sha256 }));
    const asApp = signedBy(new SignatureV4({ service: 'kms', region, credentials, sha256: Sha256 }));
    const input = (keyId) => ({ KeyId: keyId, Plaintext: kb.toString('base64'), EncryptionContext: { app: 'bench' } });
    const rates = { plain: [], policies: [] };
    const ratios = [];
    // One unmeasured pair first: a fresh server's first seconds (its workers' JIT, the store's
    // caches) fell on the first side alone and made its first round read low.
    for (let i = -1; i < runs; i++) {
      const plain = (await measure('Encrypt, root, default key policy', endpoint, async () => [await asRoot('Encrypt', input(defaultKey))], 1)).rps;
      const policies = (await measure('Encrypt, CryptoUser, 10-statement key policy + 2 identity policies', endpoint, async () => [await asApp('Encrypt', input(policyKey))], 1)).rps;
      if (i < 0) continue;
      rates.plain.push(plain);
      rates.policies.push(policies);
      ratios.push(policies / plain);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // Each round's ratio against the round beside it, as the core section does: drift in the
    // machine's speed falls on both sides of a pair alike.
    return { plain: median(rates.plain), policies: median(rates.policies), ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios), target: 0.9 };
  } finally {
    rootKms.destroy();
  }
}
