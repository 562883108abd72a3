/**
 * A bounded fuzzer over every operation the service registers: each starts from a valid
 * request, which is then mutated (types, lengths, encodings, Unicode, huge lists, nesting,
 * broken JSON and bytes) and sent signed over real HTTP to the whole service on the run's
 * token. No response may be a 5xx, every error must be AWS-shaped, and the service must be
 * healthy afterwards. The seed is fixed, so a failure reproduces.
 *
 * Operations come from the service's registry (serviceOperations: the KMS API, custom key stores
 * on extra tokens of the run, and `HsmKms.*`):
 * one added later is fuzzed too, from a generic seed (a KeyId) until it gets a seed of its own in
 * SEEDS — a valid request, so that mutations start from a call that gets past validation.
 *
 * A seed can go stale (another seed disables its key, a rule starts guarding it, its operation
 * learns a new check) and then its mutations stop at the first error: every seed is sent once
 * unmutated before the run and must succeed, except the few in NEVER_SUCCEEDS, which must fail as
 * listed; and every other operation must have had a 200 by the end of the run.
 */
import { constants, createHash, createHmac, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, type BinaryLike } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  CreateAliasCommand,
  CreateCustomKeyStoreCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DescribeCustomKeyStoresCommand,
  DisableKeyRotationCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  KMSClient,
  ListGrantsCommand,
  ListRetirableGrantsCommand,
  SignCommand,
} from '@aws-sdk/client-kms';
import { serviceOperations } from '../../src/app.js';
import { parseClusterSpec } from '../../src/backend/pkcs11/cluster-tokens.js';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { initCa } from '../../src/ca/index.js';
import { opensslCsr } from '../ca/support.js';
import { createTestCluster, type TestCluster } from '../support/clusters.js';
import { startServer, type RunningServer } from '../support/server.js';

const SEED = 0x9e3779b9;
const PER_OPERATION = Math.ceil(5000 / serviceOperations.size);
const CONCURRENCY = 8;

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** node:crypto behind the SDK signer's hash interface (the SDK's pure-JS SHA-256 is slow on big bodies). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytesOf = (data: SourceData): BinaryLike =>
  typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

class NodeSha256 {
  private hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {}
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Input = Record<string, Json>;

let server: RunningServer;
let kms: KMSClient;
let signer: SignatureV4;
/** Signs the calls between regions: a RegionPeer bound to eu-west-1 (the root may not make them). */
let peerSigner: SignatureV4;
const PEER_OPERATIONS = ['HsmKms.PrepareReplica', 'HsmKms.ImportReplica', 'HsmKms.ImportReplicaVersions', 'HsmKms.AbandonReplica', 'HsmKms.SyncMultiRegionKey'];
const SEEDS: Record<string, Input> = {};

/**
 * Operations whose seed cannot succeed in this one-server set-up, each with the error its
 * unmutated seed gets (checked: one that starts to succeed leaves this list) and why.
 */
const NEVER_SUCCEEDS: Record<string, { error: string; why: string }> = {
  ReplicateKey: { error: 'UnsupportedOperationException', why: 'needs the deployment of a second region to replicate to' },
  UpdatePrimaryRegion: { error: 'NotFoundException', why: 'needs a replica in a second region\'s deployment to become the primary' },
  'HsmKms.RemoveCreatingReplica': { error: 'KMSInvalidStateException', why: 'a replica Creating is removable only once its transfer can no longer complete (ten minutes after its last PrepareReplica)' },
};

/**
 * Seeds that use up or change what other seeds need (a grant, an alias, a principal, a key's
 * state): sent unmutated after every other seed, in this order.
 */
const SENT_LAST = [
  'RetireGrant',
  'RevokeGrant',
  'DeleteAlias',
  'HsmKms.ApproveRequest',
  'HsmKms.RejectRequest',
  'HsmKms.DeleteQuorumRule',
  'HsmKms.DeletePrincipal',
  'HsmKms.DeleteAccessKey',
  'HsmKms.RevokeCertificate',
  'DeleteImportedKeyMaterial',
  'DisconnectCustomKeyStore',
  'DeleteCustomKeyStore',
  'DisableKey',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
];

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

beforeAll(async () => {
  // Three tokens for the custom key store seeds: a store to describe, update, connect and
  // disconnect, one to delete, and a free one to create a store on.
  const clusters: TestCluster[] = [];
  for (let i = 0; i < 3; i++) clusters.push(await createTestCluster('fuzz'));
  server = await startServer({
    clusters: { configured: clusters.map((c) => parseClusterSpec(`${c.label}=${process.env.HSMKMS_TEST_MODULE}:${c.label}`)) },
  });
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  signer = new SignatureV4({ credentials: server.credentials, region: server.region, service: 'kms', sha256: NodeSha256 });
  const create = async (input: ConstructorParameters<typeof CreateKeyCommand>[0] = {}) => (await kms.send(new CreateKeyCommand(input))).KeyMetadata!.KeyId!;
  // `sym` serves the seeds of the cryptographic operations and is named by its id (and
  // alias/fuzz-sym) only in seeds that cannot disable, delete or re-alias it. Mutations name
  // alias/fuzz (nastyValue), which points to `target`: a real key that mutated DisableKey,
  // ScheduleKeyDeletion, UpdateAlias or PutQuorumRule requests are free to break.
  const [sym, target, victim, rotated, rsaEnc, ecSign, hmac, external] = await Promise.all([
    create(),
    create({ Description: 'named by mutations' }),
    create({ Description: 'for state changes' }),
    create({ Description: 'rotated on demand' }),
    create({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }),
    create({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
    create({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
    create({ Origin: 'EXTERNAL' }),
  ]);
  const mrk = await create({ MultiRegion: true });
  const ecAgree = await create({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
  const peerKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
  // No alias name is a prefix of another: a truncated AliasName must not hit a seed's alias.
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/fuzz-sym', TargetKeyId: sym }));
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/fuzz', TargetKeyId: target }));
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/victim', TargetKeyId: victim }));
  const context = { purpose: 'fuzz', tenant: 'é🔑' };
  const blob = (await kms.send(new EncryptCommand({ KeyId: sym, Plaintext: Buffer.from('fuzz me'), EncryptionContext: context }))).CiphertextBlob!;
  const message = Buffer.from('a message to sign');
  const signature = (await kms.send(new SignCommand({ KeyId: ecSign, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
  const mac = (await kms.send(new GenerateMacCommand({ KeyId: hmac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))).Mac!;
  const params = await kms.send(new GetParametersForImportCommand({ KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const wrappingKey = createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' });
  const material = publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.alloc(32, 7));

  // Principals, grants, quorum rules and approval requests for the HsmKms.* and grant seeds.
  const admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  const principal = async (UserName: string, Roles = ['CryptoUser']) =>
    (await admin.call('CreatePrincipal', { UserName, Roles })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
  const [user, , , keys, requester] = await Promise.all([
    principal('fuzz-user'),
    principal('fuzz-victim'),
    principal('fuzz-auditor', ['Auditor']),
    principal('fuzz-keys'),
    principal('fuzz-requester'),
  ]);
  const rootArn = user.Arn.replace(/:user\/fuzz-user$/, ':root');
  const spareKey = ((await admin.call('CreateAccessKey', { UserName: 'fuzz-keys' })) as { AccessKey: { AccessKeyId: string } }).AccessKey.AccessKeyId;
  expect(spareKey).not.toBe(keys.AccessKeyId);
  const principalsMarker = (await admin.call('ListPrincipals', { Limit: 1 })).NextMarker as string;

  const grant = async (Name: string) =>
    kms.send(new CreateGrantCommand({ KeyId: sym, Name, GranteePrincipal: user.Arn, RetiringPrincipal: user.Arn, Operations: ['Encrypt', 'Decrypt', 'DescribeKey'] }));
  const [kept, , toRetire, toRevoke] = await Promise.all([grant('listed-1'), grant('listed-2'), grant('retired'), grant('revoked')]);
  // Seeds pass the token of a grant that stays; RetireGrant's is its own.
  const grantToken = kept.GrantToken!;
  const grantsMarker = (await kms.send(new ListGrantsCommand({ KeyId: sym, Limit: 1 }))).NextMarker!;
  const retirableMarker = (await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: user.Arn, Limit: 1 }))).NextMarker!;

  // fuzz-requester's key, with DisableKeyRotation guarded by quorum: two pending requests.
  const asRequester = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: requester.AccessKeyId, secretAccessKey: requester.SecretAccessKey }, maxAttempts: 1 });
  const guarded = (await asRequester.send(new CreateKeyCommand({ Description: 'quorum-guarded' }))).KeyMetadata!;
  const rule = async (Action: string) =>
    ((await admin.call('PutQuorumRule', { Action, KeyId: guarded.KeyId!, MinApprovals: 1, Approvers: [rootArn, 'fuzz-user'] })) as { Rule: { RuleId: string } }).Rule.RuleId;
  await rule('kms:DisableKeyRotation');
  const spareRuleId = await rule('kms:EnableKeyRotation');
  // PutQuorumRule's seed replaces a rule of its own, on an action no other seed can succeed at: a
  // mutation that drops its KeyId makes the rule guard that action on every key.
  const putRuleId = await rule('kms:ReplicateKey');
  const approvalRequest = async (KeyId: string): Promise<string> => {
    const error = await asRequester.send(new DisableKeyRotationCommand({ KeyId })).then(
      () => undefined,
      (e: unknown) => e as { name: string; ApprovalRequestId?: string },
    );
    expect(error?.name).toBe('QuorumApprovalRequiredException');
    return error!.ApprovalRequestId!;
  };
  // The same call naming the key another way needs an approval of its own.
  const [toApprove, toReject] = [await approvalRequest(guarded.KeyId!), await approvalRequest(guarded.Arn!)];
  asRequester.destroy();
  const approvalsMarker = (await admin.call('ListApprovalRequests', { Status: 'Pending', Limit: 1 })).NextMarker as string;
  for (const marker of [principalsMarker, grantsMarker, retirableMarker, approvalsMarker]) expect(marker).toMatch(/^[A-Za-z0-9_-]+$/);
  const identityPolicy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'fuzz' } } }],
  });

  const keyStore = async (name: string, cluster: TestCluster) =>
    (await kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: name, CloudHsmClusterId: cluster.label, KeyStorePassword: cluster.userPin }))).CustomKeyStoreId!;
  const [keptStore, doomedStore] = [await keyStore('fuzz-kept', clusters[0]!), await keyStore('fuzz-doomed', clusters[1]!)];
  const storesMarker = (await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1 }))).NextMarker!;
  expect(storesMarker).toMatch(/^[A-Za-z0-9_-]+$/);

  // A private CA for the HsmKms.*Certificate* seeds: a leaf to revoke, a page marker.
  await initCa(server.app.ca, { name: 'fuzz', subject: 'CN=Fuzz Root', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
  const csrDir = mkdtempSync(join(tmpdir(), 'hsmkms-fuzz-ca-'));
  let csr: string;
  try {
    csr = readFileSync(await opensslCsr(csrDir, 'leaf', 'ec-p256', '/CN=fuzz.example.com', ['DNS:fuzz.example.com']), 'utf8');
  } finally {
    rmSync(csrDir, { recursive: true, force: true });
  }
  const leafSerial = (await admin.call('IssueCertificate', { CaName: 'fuzz', Csr: csr })).SerialNumber as string;
  const certificatesMarker = (await admin.call('ListCertificates', { CaName: 'fuzz', Limit: 1 })).NextMarker as string;
  expect(certificatesMarker).toMatch(/^[A-Za-z0-9_-]+$/);

  // A page token of the audit trail (every call above is in it).
  const auditToken = (await admin.call('LookupAuditEvents', { MaxResults: 1 })).NextToken as string;
  expect(auditToken).toMatch(/^[A-Za-z0-9_-]+$/);
  const now = Math.floor(Date.now() / 1000);
  // The peer principal of eu-west-1's deployment, which makes the calls between regions.
  const peer = (await admin.call('CreatePrincipal', { UserName: 'fuzz-peer', Roles: ['RegionPeer'], Tags: [{ TagKey: 'hsmkms:PeerRegion', TagValue: 'eu-west-1' }] })) as {
    AccessKeyId: string;
    SecretAccessKey: string;
  };
  const peerCredentials = { accessKeyId: peer.AccessKeyId, secretAccessKey: peer.SecretAccessKey };
  peerSigner = new SignatureV4({ credentials: peerCredentials, region: server.region, service: 'kms', sha256: NodeSha256 });
  const fromPeer = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: peerCredentials });
  // Replica material as a primary's deployment sends it: 32 bytes wrapped with RSAES-OAEP to the
  // transport key PrepareReplica made (single use). SHA-1, which every SoftHSM2 does: under the
  // cloudhsm profile the token also offers SHA-256, which the SoftHSM2 behind it cannot do.
  const replicaSettings = { KeyUsage: 'ENCRYPT_DECRYPT', PrimaryRegion: 'eu-west-1', Regions: ['eu-west-1'], CreationDate: 1_790_000_000 };
  const replicaFields = { KeySpec: 'SYMMETRIC_DEFAULT', ...replicaSettings };
  const wrapForReplica = async (KeyId: string, Existing: boolean) => {
    // A new replica's settings come with PrepareReplica (it is recorded Creating; ImportReplica completes it).
    const request = { KeyId, KeySpec: 'SYMMETRIC_DEFAULT', ...(Existing ? { Existing } : { Replica: replicaSettings }) };
    const prepared = (await fromPeer.call('PrepareReplica', request)) as { TransportKeyId: string; PublicKey: string; TransportHashes: string[] };
    const hash = 'SHA_1';
    expect(prepared.TransportHashes).toContain(hash);
    const publicKey = createPublicKey({ key: Buffer.from(prepared.PublicKey, 'base64'), format: 'der', type: 'spki' });
    const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, randomBytes(32));
    return { TransportKeyId: prepared.TransportKeyId, TransportHash: hash, WrappedMaterial: b64(wrapped) };
  };
  const replicaId = `mrk-${'f'.repeat(32)}`;
  const forReplica = await wrapForReplica(replicaId, false);
  // A replica already here (of a primary in eu-west-1), for ImportReplicaVersions: new material for it.
  const existingReplica = `mrk-${'d'.repeat(32)}`;
  const first = await wrapForReplica(existingReplica, false);
  await fromPeer.call('ImportReplica', {
    ...replicaFields,
    TransportKeyId: first.TransportKeyId,
    TransportHash: first.TransportHash,
    KeyId: existingReplica,
    Versions: [{ KeyMaterialId: 'c'.repeat(64), CreatedAt: 1_790_000_000, WrappedMaterial: first.WrappedMaterial }],
    CurrentKeyMaterialId: 'c'.repeat(64),
  });
  const forVersions = await wrapForReplica(existingReplica, true);
  // A replica Creating here (PrepareReplica with its settings), its transfer still possible.
  const creatingReplica = `mrk-${'c'.repeat(32)}`;
  await fromPeer.call('PrepareReplica', { KeyId: creatingReplica, KeySpec: 'SYMMETRIC_DEFAULT', Replica: { ...replicaFields, Description: 'being created' } });

  const tags = [{ TagKey: 'team', TagValue: 'fuzz' }];
  Object.assign(SEEDS, {
    CreateKey: { Description: 'fuzzed', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags },
    DescribeKey: { KeyId: 'alias/fuzz-sym', GrantTokens: [grantToken] },
    ListKeys: { Limit: 5 },
    UpdateKeyDescription: { KeyId: sym, Description: 'new words' },
    EnableKey: { KeyId: victim },
    DisableKey: { KeyId: victim },
    ScheduleKeyDeletion: { KeyId: victim, PendingWindowInDays: 7 },
    CancelKeyDeletion: { KeyId: victim },
    Encrypt: { KeyId: sym, Plaintext: b64('hello'), EncryptionContext: context, GrantTokens: [grantToken] },
    Decrypt: { CiphertextBlob: b64(blob), EncryptionContext: context, KeyId: sym },
    ReEncrypt: { CiphertextBlob: b64(blob), SourceEncryptionContext: context, DestinationKeyId: 'alias/fuzz-sym', DestinationEncryptionContext: { a: 'b' } },
    GenerateDataKey: { KeyId: sym, KeySpec: 'AES_256', EncryptionContext: context },
    GenerateDataKeyWithoutPlaintext: { KeyId: sym, NumberOfBytes: 32 },
    GenerateDataKeyPair: { KeyId: sym, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: context },
    GenerateDataKeyPairWithoutPlaintext: { KeyId: sym, KeyPairSpec: 'ECC_NIST_P256' },
    GenerateRandom: { NumberOfBytes: 16 },
    Sign: { KeyId: ecSign, Message: b64(message), SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW' },
    Verify: { KeyId: ecSign, Message: b64(message), Signature: b64(signature), SigningAlgorithm: 'ECDSA_SHA_256' },
    GetPublicKey: { KeyId: rsaEnc },
    DeriveSharedSecret: { KeyId: ecAgree, KeyAgreementAlgorithm: 'ECDH', PublicKey: b64(peerKey) },
    GenerateMac: { KeyId: hmac, Message: b64(message), MacAlgorithm: 'HMAC_SHA_256' },
    VerifyMac: { KeyId: hmac, Message: b64(message), MacAlgorithm: 'HMAC_SHA_256', Mac: b64(mac) },
    CreateAlias: { AliasName: 'alias/fuzz-new', TargetKeyId: target },
    UpdateAlias: { AliasName: 'alias/fuzz', TargetKeyId: target },
    DeleteAlias: { AliasName: 'alias/victim' },
    ListAliases: { KeyId: sym, Limit: 10 },
    TagResource: { KeyId: sym, Tags: tags },
    UntagResource: { KeyId: sym, TagKeys: ['team', 'other'] },
    ListResourceTags: { KeyId: sym, Limit: 10 },
    EnableKeyRotation: { KeyId: sym, RotationPeriodInDays: 365 },
    DisableKeyRotation: { KeyId: sym },
    GetKeyRotationStatus: { KeyId: sym },
    RotateKeyOnDemand: { KeyId: rotated },
    ListKeyRotations: { KeyId: sym, IncludeKeyMaterial: 'ALL_KEY_MATERIAL', Limit: 5 },
    GetParametersForImport: { KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' },
    ImportKeyMaterial: { KeyId: external, ImportToken: b64(params.ImportToken!), EncryptedKeyMaterial: b64(material), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'fuzz seed' },
    DeleteImportedKeyMaterial: { KeyId: external },
    GetKeyPolicy: { KeyId: sym, PolicyName: 'default' },
    PutKeyPolicy: { KeyId: victim, PolicyName: 'default', Policy: defaultPolicy() },
    ListKeyPolicies: { KeyId: sym, Limit: 1 },
    CreateGrant: {
      KeyId: sym,
      GranteePrincipal: user.Arn,
      RetiringPrincipal: user.Arn,
      Operations: ['Encrypt', 'Decrypt'],
      Constraints: { EncryptionContextSubset: { purpose: 'fuzz' } },
      Name: 'fuzz-grant',
      GrantTokens: [grantToken],
    },
    ListGrants: { KeyId: sym, Limit: 1, Marker: grantsMarker, GranteePrincipal: user.Arn },
    ListRetirableGrants: { RetiringPrincipal: user.Arn, Limit: 1, Marker: retirableMarker },
    RetireGrant: { GrantToken: grantToken },
    RevokeGrant: { KeyId: sym, GrantId: toRevoke.GrantId! },
    CreateCustomKeyStore: { CustomKeyStoreName: 'fuzz-new-store', CloudHsmClusterId: clusters[2]!.label, KeyStorePassword: clusters[2]!.userPin },
    DescribeCustomKeyStores: { Limit: 1, Marker: storesMarker },
    UpdateCustomKeyStore: { CustomKeyStoreId: keptStore, NewCustomKeyStoreName: 'fuzz-renamed' },
    ConnectCustomKeyStore: { CustomKeyStoreId: keptStore },
    DisconnectCustomKeyStore: { CustomKeyStoreId: keptStore },
    DeleteCustomKeyStore: { CustomKeyStoreId: doomedStore },
    'HsmKms.CreatePrincipal': { UserName: 'fuzz-new', Roles: ['CryptoUser', 'Auditor'], Tags: tags },
    'HsmKms.ListPrincipals': { Limit: 1, Marker: principalsMarker },
    'HsmKms.GetPrincipal': { UserName: 'fuzz-user' },
    'HsmKms.UpdatePrincipalRoles': { UserName: 'fuzz-user', Roles: ['CryptoUser', 'Auditor'] },
    'HsmKms.PutPrincipalPolicy': { UserName: 'fuzz-user', PolicyName: 'fuzz', PolicyDocument: identityPolicy },
    'HsmKms.DeletePrincipalPolicy': { UserName: 'fuzz-user', PolicyName: 'fuzz' },
    'HsmKms.DeletePrincipal': { UserName: 'fuzz-victim' },
    // Not fuzz-user: an approver of the quorum rules above, so credentials for it wait for their approval.
    'HsmKms.CreateAccessKey': { UserName: 'fuzz-auditor' },
    'HsmKms.DeleteAccessKey': { UserName: 'fuzz-keys', AccessKeyId: spareKey },
    'HsmKms.TagPrincipal': { UserName: 'fuzz-user', Tags: tags },
    'HsmKms.UntagPrincipal': { UserName: 'fuzz-user', TagKeys: ['team', 'other'] },
    'HsmKms.ExplainAuthorization': {
      UserName: 'fuzz-user',
      Action: 'kms:Decrypt',
      KeyId: 'alias/fuzz-sym',
      EncryptionContext: context,
      Context: { 'aws:SourceIp': '10.0.0.1', 'kms:EncryptionAlgorithm': ['SYMMETRIC_DEFAULT'] },
      SourceIp: '10.0.0.1',
      SecureTransport: true,
      GrantTokens: [grantToken],
    },
    'HsmKms.PutQuorumRule': { RuleId: putRuleId, Action: 'kms:ReplicateKey', KeyId: guarded.Arn!, TaggedKeysOnly: false, MinApprovals: 1, Approvers: [rootArn, 'fuzz-user'] },
    'HsmKms.ListQuorumRules': {},
    'HsmKms.DeleteQuorumRule': { RuleId: spareRuleId },
    'HsmKms.ListApprovalRequests': { Status: 'Pending', Limit: 1, Marker: approvalsMarker },
    'HsmKms.GetApprovalRequest': { ApprovalRequestId: toApprove },
    'HsmKms.ApproveRequest': { ApprovalRequestId: toApprove },
    'HsmKms.RejectRequest': { ApprovalRequestId: toReject },
    'HsmKms.GetCallerIdentity': {},
    'HsmKms.IssueCertificate': { CaName: 'fuzz', Csr: csr, Profile: 'tls-server', ValidityDays: 30 },
    'HsmKms.RevokeCertificate': { CaName: 'fuzz', SerialNumber: leafSerial, RevocationReason: 'SUPERSEDED' },
    'HsmKms.ListCertificates': { CaName: 'fuzz', Limit: 2, Marker: certificatesMarker, Status: 'GOOD' },
    'HsmKms.ReissueIntermediate': { CaName: 'fuzz', ValidityDays: 365 },
    'HsmKms.ListCertificateAuthorities': {},
    'HsmKms.LookupAuditEvents': {
      StartTime: now - 3600,
      EndTime: now + 3600,
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateKey' }],
      MaxResults: 5,
      NextToken: auditToken,
    },
    'HsmKms.VerifyAuditTrail': { From: now - 3600, To: now + 60 },
    ReplicateKey: { KeyId: mrk, ReplicaRegion: 'eu-west-1', Description: 'replica', Tags: tags, Policy: defaultPolicy(), BypassPolicyLockoutSafetyCheck: false },
    UpdatePrimaryRegion: { KeyId: mrk, PrimaryRegion: 'eu-west-1' },
    'HsmKms.SyncMultiRegionKey': { KeyId: existingReplica, PrimaryRegion: 'eu-west-1', Regions: ['eu-west-1', 'us-east-1'], RotationEnabled: false },
    'HsmKms.PrepareReplica': { KeyId: `mrk-${'e'.repeat(32)}`, KeySpec: 'SYMMETRIC_DEFAULT', Replica: replicaSettings },
    'HsmKms.AbandonReplica': { KeyId: `mrk-${'e'.repeat(32)}`, PrimaryRegion: 'eu-west-1' },
    'HsmKms.RemoveCreatingReplica': { KeyId: creatingReplica },
    'HsmKms.ImportReplica': {
      ...replicaFields,
      TransportKeyId: forReplica.TransportKeyId,
      TransportHash: forReplica.TransportHash,
      KeyId: replicaId,
      Versions: [{ KeyMaterialId: 'a'.repeat(64), CreatedAt: 1_790_000_000, WrappedMaterial: forReplica.WrappedMaterial, RotationType: 'ON_DEMAND' }],
      CurrentKeyMaterialId: 'a'.repeat(64),
      RotationPeriodInDays: 365,
      Description: 'replica',
      Tags: tags,
    },
    'HsmKms.ImportReplicaVersions': {
      TransportKeyId: forVersions.TransportKeyId,
      TransportHash: forVersions.TransportHash,
      KeyId: existingReplica,
      Versions: [{ KeyMaterialId: 'b'.repeat(64), CreatedAt: 1_790_000_000, WrappedMaterial: forVersions.WrappedMaterial }],
    },
  } satisfies Record<string, Input>);
  // Every operation the service registers has a seed of its own.
  expect([...serviceOperations.keys()].filter((name) => !(name in SEEDS))).toEqual([]);
}, 120_000);

afterAll(async () => {
  kms?.destroy();
  await server?.close();
});

function defaultPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }],
  });
}

// ───────────────────────────── mutations ─────────────────────────────

/** Values that break assumptions: wrong types, edge lengths, odd Unicode, huge and deep shapes. */
function nastyValue(rand: () => number, current: Json | undefined): Json {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const length = pick([0, 1, 16, 127, 128, 129, 255, 256, 257, 1024, 2048, 2049, 4096, 4097, 6144, 6145, 8192, 8193]);
  const nest = (depth: number, leaf: Json, asObject: boolean): Json => {
    let v = leaf;
    for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
    return v;
  };
  const kinds: (() => Json)[] = [
    () => null,
    () => pick([true, false]),
    () => pick([0, -1, 1, 1.5, -0.5, 7, 30, 1024, 1025, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 8.64e15]),
    () => pick(['', ' ', '0', 'null', 'true', '1e999', 'NaN', '-1', '[]', '{}']),
    () => 'x'.repeat(length),
    () => 'é'.repeat(length),
    // Past AWS's largest string member (131,072) and near the body limit.
    () => {
      const n = pick([131_073, 300_000]);
      return big(`x${n}`, () => `"${'x'.repeat(n)}"`);
    },
    () => pick(['\ud800', 'a\udfffb', '\udbff\ud800', '🔑', '\u0000', '\u202e\u0000\uffff', '\ufeff', 'ä\u0301', '\r\n\t']),
    () => b64(Buffer.alloc(length, Math.floor(rand() * 256))),
    () => pick(['AAAA', '====', 'A===', 'AA==A', '!!!!', 'QUJD\nREVG', 'YWJj ZA==', '-_-_']),
    () => pick(['alias/', 'alias/aws/x', `alias/${'a'.repeat(300)}`, 'alias/fuzz', 'arn:aws:kms:us-east-1:111122223333:alias/fuzz', 'arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:us-east-1:111122223333:key/', 'arn:', 'key/../x', '1234abcd-12ab-34cd-56ef-1234567890ab']),
    // Principals (never a quorum action: a rule guarding every call would stop the run's other requests).
    () => pick(['arn:aws:iam::111122223333:root', 'arn:aws:iam::111122223333:user/fuzz-user', 'arn:aws:iam::111122223333:user/nobody', 'arn:aws:iam::111122223333:user/', 'arn:aws:iam::999999999999:role/x', 'arn:aws:iam:::root', 'fuzz-user', 'ar-00000000000000000000000000000000']),
    () => pick(['SYMMETRIC_DEFAULT', 'RSA_2048', 'HMAC_512', 'ECC_NIST_P384', 'ML_DSA_44', 'SM2', 'RSAES_OAEP_SHA_1', 'ECDSA_SHA_512', 'DIGEST', 'EXTERNAL', 'AWS_CLOUDHSM', 'symmetric_default']),
    () => [],
    () => Array.from({ length: pick([1, 10, 11, 50, 51, 1000]) }, (_, i) => `k${i}`),
    () => {
      const n = pick([32_766, 40_000]);
      return big(`strings${n}`, () => JSON.stringify(Array(n).fill('k')));
    },
    () => {
      const n = pick([51, 5000]);
      return big(`tags${n}`, () => JSON.stringify(Array(n).fill({ TagKey: 'k', TagValue: 'v' })));
    },
    () => [{ TagKey: '\ud800', TagValue: 'v' }, { TagKey: 'aws:x', TagValue: '' }, { TagKey: 'k' }, 5, null],
    () => ({}),
    () =>
      rand() < 0.7
        ? { k0: '', k1: 'v', k2: 'é'.repeat(100) }
        : big('map9000', () => JSON.stringify(Object.fromEntries(Array.from({ length: 9000 }, (_, i) => [`k${i}`, i % 2 ? 'v' : ''])))),
    () => ({ '': 'empty key', '\udc00': 'lone', ok: 5 }),
    () => ({ __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } }) as unknown as Json,
    () => nest(pick([2, 31, 32, 33, 100]), 'leaf', rand() < 0.5),
    // Deeper than JSON.stringify (or any recursive walk) survives: written as text.
    () => raw(rand() < 0.5 ? `${'['.repeat(5000)}${']'.repeat(5000)}` : `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`),
    () => (typeof current === 'string' ? current.slice(0, Math.floor(rand() * current.length)) : 'x'),
    () => (typeof current === 'string' ? current + current : 'xx'),
    () => (typeof current === 'string' ? flipBase64(current, rand) : 'AAAA'),
  ];
  return pick(kinds)();
}

/** JSON text put into a request as is (see toJson). */
class Raw {
  constructor(readonly text: string) {}
}
const raw = (text: string) => new Raw(text) as unknown as Json;

/** Large values as JSON text, made once: building and serialising them anew for each request would cost more than sending them. */
const bigValues = new Map<string, Json>();
function big(name: string, text: () => string): Json {
  let value = bigValues.get(name);
  if (value === undefined) bigValues.set(name, (value = raw(text())));
  return value;
}

/** JSON.stringify, with Raw values spliced in as their text. */
function toJson(input: Input): string {
  // A replacer runs for every array element: only pay for it when there is text to splice.
  if (!Object.values(input).some((v) => v instanceof Raw)) return JSON.stringify(input);
  const raws: string[] = [];
  const text = JSON.stringify(input, (_key, value: unknown) => (value instanceof Raw ? `\u0000raw${raws.push(value.text) - 1}\u0000` : value));
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

/** Flips one bit of the bytes a base64 string holds (a tampered blob that still decodes). */
function flipBase64(value: string, rand: () => number): string {
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === 0) return value;
  const i = Math.floor(rand() * bytes.length);
  bytes[i]! ^= 1 << Math.floor(rand() * 8);
  return bytes.toString('base64');
}

interface Case {
  operation: string;
  body: Buffer;
  contentType: string;
  description: string;
}

const MEMBER_NAMES = [
  'KeyId',
  'GrantTokens',
  'EncryptionContext',
  'Tags',
  'TagKeys',
  'Limit',
  'Marker',
  'Policy',
  'AliasName',
  'Plaintext',
  'CiphertextBlob',
  'DryRun',
  'Recipient',
  'UserName',
  'Roles',
  'PolicyDocument',
  'GranteePrincipal',
  'Operations',
  'Constraints',
  'Approvers',
  'ApprovalRequestId',
  'CaName',
  'Csr',
  'SerialNumber',
  'LookupAttributes',
  'NextToken',
  'Unknown',
  '\ud800',
  '',
];

function mutate(operation: string, seed: Input, rand: () => number): Case {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const input: Input = { ...seed };
  const steps: string[] = [];
  let contentType = 'application/x-amz-json-1.1';
  let body: Buffer | undefined;
  const count = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < count; i++) {
    const names = Object.keys(input);
    const r = rand();
    if (r < 0.45 && names.length > 0) {
      const name = pick(names);
      input[name] = nastyValue(rand, input[name]);
      steps.push(`set ${name}`);
    } else if (r < 0.6 && names.length > 0) {
      // One level down: a tag's TagKey, an encryption context value, a list item.
      const name = pick(names);
      const member = input[name];
      if (Array.isArray(member) && member.length > 0) {
        const copy = [...member];
        const i = Math.floor(rand() * copy.length);
        const item = copy[i];
        if (item !== null && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length > 0) {
          const key = pick(Object.keys(item));
          copy[i] = { ...item, [key]: nastyValue(rand, item[key]) };
          steps.push(`set ${name}.${i}.${key}`);
        } else {
          copy[i] = nastyValue(rand, item);
          steps.push(`set ${name}.${i}`);
        }
        input[name] = copy;
      } else if (member !== null && typeof member === 'object' && !Array.isArray(member) && !(member instanceof Raw)) {
        const key = rand() < 0.7 && Object.keys(member).length > 0 ? pick(Object.keys(member)) : pick(['', '\ud800', 'new', 'aws:x']);
        input[name] = { ...member, [key]: nastyValue(rand, member[key]) };
        steps.push(`set ${name}.${JSON.stringify(key)}`);
      } else {
        input[name] = nastyValue(rand, member);
        steps.push(`set ${name}`);
      }
    } else if (r < 0.72 && names.length > 0) {
      const name = pick(names);
      delete input[name];
      steps.push(`drop ${name}`);
    } else if (r < 0.84) {
      const name = pick(MEMBER_NAMES);
      input[name] = nastyValue(rand, input[name]);
      steps.push(`add ${JSON.stringify(name)}`);
    } else if (r < 0.88) {
      contentType = pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-amz-json-1.0', '']);
      steps.push(`content-type '${contentType}'`);
    } else {
      const text = Buffer.from(toJson(input));
      const wire = pick(['truncate', 'byte', 'utf8', 'array', 'empty', 'garbage', 'duplicate']);
      steps.push(`wire ${wire}`);
      if (wire === 'truncate') body = text.subarray(0, Math.floor(rand() * text.length));
      else if (wire === 'byte') {
        body = Buffer.from(text);
        body[Math.floor(rand() * body.length)] = Math.floor(rand() * 256);
      } else if (wire === 'utf8') body = Buffer.concat([text.subarray(0, 1), Buffer.from('"Z":"'), Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0xff]), Buffer.from('",'), text.subarray(1)]);
      else if (wire === 'array') body = Buffer.from(`[${text.toString()}]`);
      else if (wire === 'empty') body = Buffer.alloc(0);
      else if (wire === 'garbage') body = Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)));
      else body = Buffer.from(text.toString().replace(/^\{/, '{"KeyId":1,"KeyId":"x",'));
    }
  }
  return { operation, body: body ?? Buffer.from(toJson(input)), contentType, description: steps.join('; ') };
}

async function send(c: Case): Promise<{ status: number; text: string }> {
  const url = new URL(server.endpoint);
  // Registry keys are `Encrypt` for TrentService and `HsmKms.CreatePrincipal` for the others.
  const target = c.operation.includes('.') ? c.operation : `TrentService.${c.operation}`;
  const headers: Record<string, string> = { host: url.host, 'x-amz-target': target };
  if (c.contentType !== '') headers['content-type'] = c.contentType;
  const signed = await (PEER_OPERATIONS.includes(c.operation) ? peerSigner : signer).sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body: c.body });
  const res = await fetch(server.endpoint, { method: 'POST', headers: signed.headers, body: c.body });
  return { status: res.status, text: await res.text() };
}

describe('fuzzing every operation', () => {
  it(`answers ≥ 5,000 mutated signed requests without a 5xx, AWS-shaped, and stays healthy (seed ${SEED.toString(16)})`, async () => {
    const rand = prng(SEED);
    // Operations interleaved, so a state change (DisableKey, ScheduleKeyDeletion) does not
    // shadow a whole block of another operation's requests.
    const plan = Array.from({ length: PER_OPERATION }, () => [...serviceOperations.keys()]).flat();
    expect(plan.length).toBeGreaterThanOrEqual(5000);

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const succeeded = new Set<string>();
    // Every seed once, unmutated: each must succeed (or fail as NEVER_SUCCEEDS says), or it has gone
    // stale and its mutations no longer reach the operation's deeper code. These count in the run.
    const operations = [...serviceOperations.keys()];
    expect(SENT_LAST.filter((o) => !serviceOperations.has(o))).toEqual([]);
    const seedOutcomes: string[] = [];
    for (const operation of [...operations.filter((o) => !SENT_LAST.includes(o)), ...SENT_LAST]) {
      const { status, text } = await send({ operation, body: Buffer.from(toJson(SEEDS[operation] ?? {})), contentType: 'application/x-amz-json-1.1', description: 'seed' });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 200) succeeded.add(operation);
      const never = NEVER_SUCCEEDS[operation];
      const expected = never ? `400 ${never.error}` : '200';
      const got = status === 200 ? '200' : `${status} ${/"__type":"(\w+)"/.exec(text)?.[1]}`;
      if (got !== expected) seedOutcomes.push(`${operation}: expected ${expected}${never ? ` (${never.why})` : ''}, got ${status} ${text.slice(0, 300)}`);
    }
    expect(seedOutcomes).toEqual([]);
    const mutatedSucceeded = new Set<string>();
    let next = 0;
    let sendMs = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < plan.length) {
          // Made when sent (in plan order, so the sequence is fixed): thousands of bodies held at once would be hundreds of MB.
          const operation = plan[next++]!;
          const c = mutate(operation, SEEDS[operation] ?? { KeyId: 'alias/fuzz' }, rand);
          const t0 = Date.now();
          const { status, text } = await send(c);
          sendMs += Date.now() - t0;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 200) {
            succeeded.add(operation);
            mutatedSucceeded.add(operation);
          }
          const where = `${c.operation} [${c.description}] → ${status} ${text.slice(0, 200)}`;
          if (status >= 500) failures.push(where);
          else if (status >= 400) {
            let parsed: { __type?: unknown; message?: unknown } | undefined;
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              /* reported below */
            }
            if (typeof parsed?.__type !== 'string' || typeof parsed.message !== 'string' || /\bat .*\.(ts|js):\d+/.test(text)) failures.push(`not AWS-shaped: ${where}`);
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    console.info(
      `fuzz: ${plan.length} mutated requests (after ${operations.length} unmutated seeds) over ${serviceOperations.size} operations in ${seconds.toFixed(1)} s (${(sendMs / CONCURRENCY / 1000).toFixed(1)} s waiting per worker); statuses ${JSON.stringify(Object.fromEntries(statuses))}; never 200 (a seed gone stale?): ${JSON.stringify(operations.filter((o) => !succeeded.has(o)))}; 200 for the unmutated seed only (one-shot seeds, or mutations that always break the request): ${JSON.stringify(operations.filter((o) => succeeded.has(o) && !mutatedSucceeded.has(o)))}`,
    );
    expect(failures.slice(0, 20)).toEqual([]);
    // Every operation but those that cannot succeed here got a 200 in this run.
    expect(operations.filter((o) => !succeeded.has(o) && !(o in NEVER_SUCCEEDS))).toEqual([]);

    const health = await fetch(`${server.endpoint}/health`);
    expect(health.status).toBe(200);
    expect(server.logs()).not.toContain('failed unexpectedly');
  }, 240_000);
});
