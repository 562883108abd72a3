/**
 * HsmKms.IssueCertificate signs with the issuing key in its own call: whoever may issue must be
 * exactly whoever may kms:Sign a digest with that key, with the CA's algorithm. Each case sets up
 * one way of being allowed or refused (a grant, key-policy conditions on kms:SigningAlgorithm,
 * kms:MessageType and kms:CallerAccount, a quorum rule, the key's state) and asks both: a Sign
 * call over the AWS SDK and an issuance. Nothing is recorded for a refused issuance.
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CancelKeyDeletionCommand,
  CreateGrantCommand,
  EnableKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  PutKeyPolicyCommand,
  RevokeGrantCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
} from '@aws-sdk/client-kms';
import { initCa } from '../../src/ca/index.js';
import { lookupAuditEvents } from '../../src/audit/index.js';
import { HsmKmsClient, HsmKmsError } from '../../src/client/hsmkms-client.js';
import { opensslCsr } from '../ca/support.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-parity-'));
const NAME = 'parity';
let root: KMSClient;
let officer: HsmKmsClient;
let approver: HsmKmsClient;
let issuer: { arn: string; hsmkms: HsmKmsClient; kms: KMSClient };
let keyArn: string;
let account: string;
let basePolicy: { Version: string; Statement: unknown[] };
let csr: string;

beforeAll(async () => {
  server = await startServer();
  root = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  const admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  const principal = async (name: string, roles: string[]) => {
    const out = (await admin.call('CreatePrincipal', { UserName: name, Roles: roles })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
    const credentials = { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey };
    return {
      arn: out.Arn,
      hsmkms: new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials }),
      kms: new KMSClient({ endpoint: server.endpoint, region: server.region, credentials, maxAttempts: 1 }),
    };
  };
  issuer = await principal('issuer', ['CryptoUser']);
  officer = (await principal('officer', ['CryptoOfficer'])).hsmkms;
  approver = (await principal('approver', ['CryptoUser'])).hsmkms;
  account = issuer.arn.split(':')[4]!;
  await initCa(server.app.ca, { name: NAME, subject: 'CN=Parity Root,O=hsmkms tests,C=US', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
  const authority = ((await admin.call('ListCertificateAuthorities', {})).CertificateAuthorities as Array<Record<string, unknown>>).find((a) => a.CaName === NAME)!;
  keyArn = authority.IntermediateKeyArn as string;
  basePolicy = JSON.parse((await root.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy!);
  csr = readFileSync(await opensslCsr(dir, 'leaf', 'ec-p256', '/CN=parity.example.com', ['DNS:parity.example.com']), 'utf8');
}, 300_000);

afterAll(async () => {
  root?.destroy();
  issuer?.kms.destroy();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * After a change to the key: in the `three-nodes` project the other nodes' caches follow within
 * 1 s (README, "Caches and their bound"), and requests go to a random node; one process applies
 * it on the next request.
 */
async function applied(): Promise<void> {
  if (process.env.HSMKMS_TEST_DEPLOYMENT === 'three-nodes') await new Promise((r) => setTimeout(r, 1100));
}

/** The key policy: the CA's own statements plus `extra`. */
async function policy(...extra: unknown[]): Promise<void> {
  await root.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify({ ...basePolicy, Statement: [...basePolicy.Statement, ...extra] }) }));
  await applied();
}

const signStatement = (condition?: Record<string, unknown>) => ({
  Sid: 'IssuerSigns',
  Effect: 'Allow',
  Principal: { AWS: issuer.arn },
  Action: 'kms:Sign',
  Resource: '*',
  ...(condition ? { Condition: condition } : {}),
});

/** What a Sign of a digest as the CA makes it, and an issuance, answer for the issuer: 'ok' or the error's name. */
async function both(): Promise<{ sign: string; issue: string }> {
  const sign = await issuer.kms
    .send(new SignCommand({ KeyId: keyArn, Message: createHash('sha256').update('parity').digest(), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))
    .then(
      () => 'ok',
      (e: Error) => e.name,
    );
  const issue = await issuer.hsmkms.call('IssueCertificate', { CaName: NAME, Csr: csr }).then(
    () => 'ok',
    (e: unknown) => (e instanceof HsmKmsError ? e.name : String(e)),
  );
  return { sign, issue };
}

async function certificateCount(): Promise<number> {
  return ((await officer.call('ListCertificates', { CaName: NAME, Limit: 1000 })).Certificates as unknown[]).length;
}

it('allows issuing exactly when a grant allows Sign, and no longer once it is revoked', async () => {
  await policy();
  expect(await both()).toEqual({ sign: 'AccessDeniedException', issue: 'AccessDeniedException' });
  const { GrantId } = await root.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: issuer.arn, Operations: ['Sign'] }));
  expect(await both()).toEqual({ sign: 'ok', issue: 'ok' });
  // The issuance's audit record names the issuer and the grant that allowed it.
  const record = lookupAuditEvents(join(server.dataDir, 'audit'), { eventName: 'HsmKms.IssueCertificate', key: keyArn, maxResults: 50 })
    .events.map((e) => e.record)
    .filter((r) => r.errorCode === undefined)
    .at(-1)!;
  expect(record.userIdentity.arn).toBe(issuer.arn);
  expect(record.additionalEventData).toMatchObject({ authorization: [expect.objectContaining({ action: 'kms:Sign', resource: keyArn, decision: 'Allow', grantId: GrantId })] });
  await root.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId }));
  expect(await both()).toEqual({ sign: 'AccessDeniedException', issue: 'AccessDeniedException' });
});

it('judges key-policy conditions on kms:SigningAlgorithm, kms:MessageType and kms:CallerAccount as Sign does', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } }, 'ok'],
    [{ StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_384' } }, 'AccessDeniedException'],
    [{ StringEquals: { 'kms:MessageType': 'DIGEST' } }, 'ok'],
    [{ StringEquals: { 'kms:MessageType': 'RAW' } }, 'AccessDeniedException'],
    [{ StringEquals: { 'kms:CallerAccount': account } }, 'ok'],
    [{ StringEquals: { 'kms:CallerAccount': '999999999999' } }, 'AccessDeniedException'],
    [{ Bool: { 'aws:SecureTransport': 'true' } }, 'AccessDeniedException'],
  ];
  for (const [condition, expected] of cases) {
    await policy(signStatement(condition));
    expect({ condition, ...(await both()) }).toEqual({ condition, sign: expected, issue: expected });
  }
  // An explicit Deny on the algorithm wins over the Allow, for both.
  await policy(signStatement(), { Sid: 'NoEcdsa256', Effect: 'Deny', Principal: '*', Action: 'kms:Sign', Resource: '*', Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } } });
  expect(await both()).toEqual({ sign: 'AccessDeniedException', issue: 'AccessDeniedException' });
});

it('refuses while the issuing key is pending deletion, and records nothing', async () => {
  await policy(signStatement());
  await root.send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 }));
  await applied();
  const before = await certificateCount();
  try {
    const { sign, issue } = await both();
    expect(sign).toBe('KMSInvalidStateException');
    expect(issue).toBe('RequestFailedException'); // as for a disabled key (certificates.test.ts): the CA's word for a KMS key it cannot use
    expect(await certificateCount()).toBe(before);
  } finally {
    await root.send(new CancelKeyDeletionCommand({ KeyId: keyArn }));
    await root.send(new EnableKeyCommand({ KeyId: keyArn }));
    await applied();
  }
  expect(await both()).toEqual({ sign: 'ok', issue: 'ok' });
});

it('waits for quorum on the issuing key as Sign does, and issues once approved', async () => {
  await policy(signStatement());
  const put = await officer.call('PutQuorumRule', { Action: 'kms:Sign', KeyId: keyArn, MinApprovals: 1, Approvers: ['approver'] });
  const ruleId = (put.Rule as { RuleId: string }).RuleId;
  await applied();
  try {
    const before = await certificateCount();
    expect(await both()).toEqual({ sign: 'QuorumApprovalRequiredException', issue: 'QuorumApprovalRequiredException' });
    expect(await certificateCount()).toBe(before);
    const pending = await issuer.hsmkms.call('IssueCertificate', { CaName: NAME, Csr: csr }).then(
      () => undefined,
      (e: HsmKmsError) => e,
    );
    const id = pending!.fields.ApprovalRequestId as string;
    const request = (await approver.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest as Record<string, unknown>;
    expect(request).toMatchObject({ Requester: issuer.arn, Action: 'kms:Sign', KeyId: keyArn });
    await approver.call('ApproveRequest', { ApprovalRequestId: id });
    await issuer.hsmkms.call('IssueCertificate', { CaName: NAME, Csr: csr });
    expect(await certificateCount()).toBe(before + 1);
    // The approval is spent.
    expect((await both()).issue).toBe('QuorumApprovalRequiredException');
  } finally {
    await officer.call('DeleteQuorumRule', { RuleId: ruleId });
    await applied();
  }
});
