/**
 * The private CA over the API (`HsmKms.IssueCertificate`, `RevokeCertificate`, `ListCertificates`,
 * `ReissueIntermediate`, `ListCertificateAuthorities`) with the signed HsmKms client and the real
 * AWS SDK for key policies: issuing needs kms:Sign on the issuing key under its key policy, a
 * caller without it gets AccessDenied and nothing is recorded; a revocation shows in
 * `openssl ocsp`; root operations wait for quorum while the CA's own automatic uses of the
 * root key (CRL, OCSP responder renewal) do not.
 */
import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisableKeyCommand, EnableKeyCommand, GetKeyPolicyCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { answerOcsp, createCaDeps, createKmsClient, inProcessCaKms, initCa, sdkCaKms } from '../../src/ca/index.js';
import { lookupAuditEvents } from '../../src/audit/index.js';
import { injectRequestHandler } from '../../src/http/inject-request-handler.js';
import { HsmKmsClient, HsmKmsError } from '../../src/client/hsmkms-client.js';
import { opensslCsr, pemBlocks, run, writePem } from '../ca/support.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-api-'));
const NAME = 'api';
const client: Record<string, HsmKmsClient> = {};
const arns: Record<string, string> = {};
let kms: KMSClient;
let authority: Record<string, unknown>;
let rootFile: string;
let csr: string;

async function refused(promise: Promise<unknown>): Promise<HsmKmsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HsmKmsError);
  return error as HsmKmsError;
}

/** Adds a statement to a key's policy letting `who` sign digests with it. */
async function allowSigning(keyArn: string, who: string[]): Promise<void> {
  const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy!);
  policy.Statement.push({
    Sid: `Sign-${policy.Statement.length}`,
    Effect: 'Allow',
    Principal: { AWS: who },
    Action: 'kms:Sign',
    Resource: '*',
    Condition: { StringEquals: { 'kms:MessageType': 'DIGEST' } },
  });
  await kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(policy) }));
}

async function certificateCount(): Promise<number> {
  const listed = await client.auditor!.call('ListCertificates', { CaName: NAME, Limit: 1000 });
  return (listed.Certificates as unknown[]).length;
}

beforeAll(async () => {
  server = await startServer();
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  client.root = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  for (const [name, roles] of [
    ['issuer', ['CryptoUser']],
    ['stranger', ['CryptoUser']],
    ['rootop', ['CryptoUser']],
    ['approver', ['CryptoUser']],
    ['auditor', ['Auditor']],
    ['officer', ['CryptoOfficer']],
  ] as const) {
    const out = (await client.root.call('CreatePrincipal', { UserName: name, Roles: [...roles] })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
    arns[name] = out.Arn;
    client[name] = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey } });
  }
  const created = await initCa(server.app.ca, { name: NAME, subject: 'CN=API Root,O=hsmkms tests,C=US', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
  rootFile = writePem(dir, 'root.pem', created.rootPem);
  authority = ((await client.auditor!.call('ListCertificateAuthorities', {})).CertificateAuthorities as Array<Record<string, unknown>>).find((a) => a.CaName === NAME)!;
  await allowSigning(authority.IntermediateKeyArn as string, [arns.issuer!]);
  await allowSigning(authority.RootKeyArn as string, [arns.rootop!]);
  csr = readFileSync(await opensslCsr(dir, 'leaf', 'ec-p256', '/CN=leaf.example.com', ['DNS:leaf.example.com']), 'utf8');
}, 300_000);

afterAll(async () => {
  kms?.destroy();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ListCertificateAuthorities', () => {
  it('shows the CA, its keys, certificates and URLs to every role', async () => {
    expect(authority).toMatchObject({
      CaName: NAME,
      KeySpec: 'ECC_NIST_P256',
      SigningAlgorithm: 'ECDSA_SHA_256',
      Status: 'ACTIVE',
      RootCertificate: expect.stringMatching(/^-----BEGIN CERTIFICATE-----/),
      Urls: { Crl: `${server.endpoint}/ca/${NAME}/crl`, Ocsp: `${server.endpoint}/ca/${NAME}/ocsp` },
    });
    expect(authority.IntermediateKeyArn).toMatch(/^arn:aws:kms:[^:]+:\d{12}:key\//);
    for (const who of ['issuer', 'officer']) expect((await client[who]!.call('ListCertificateAuthorities', {})).CertificateAuthorities).toHaveLength(1);
  });
});

describe('IssueCertificate', () => {
  it("checks a CSR's ECDSA signature with the native addon, key import included, off the event loop", () => {
    // test/ca/csr-signature.test.ts holds it to node:crypto's outcomes; here: the server uses it.
    expect(server.app.ca.ecdsa).toBeDefined();
  });

  it('issues to a CryptoUser whom the key policy lets sign with the issuing key; the chain verifies with openssl', async () => {
    const before = await certificateCount();
    const issued = await client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr, Profile: 'tls-server', ValidityDays: 30 });
    expect(issued).toMatchObject({ CaName: NAME, Issuer: 'INTERMEDIATE', Status: 'GOOD', Kind: 'tls-server', Subject: 'CN=leaf.example.com' });
    expect(issued.SerialNumber).toMatch(/^[0-9a-f]{32}$/);
    expect(pemBlocks(issued.CertificateChain as string)).toHaveLength(2);
    const leaf = new x509.X509Certificate(issued.Certificate as string);
    expect(Math.round((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 86_400_000)).toBe(30);
    const leafFile = writePem(dir, 'issued.pem', issued.Certificate as string);
    const untrusted = writePem(dir, 'intermediate.pem', pemBlocks(issued.CertificateChain as string)[0]!);
    const { stdout } = await run('openssl', ['verify', '-CAfile', rootFile, '-untrusted', untrusted, '-purpose', 'sslserver', leafFile]);
    expect(stdout).toContain(': OK');
    expect(await certificateCount()).toBe(before + 1);

    // A DER CSR, base64 as AWS Private CA's blob member carries it, works too.
    const der = await run('openssl', ['req', '-in', join(dir, 'leaf.csr'), '-outform', 'DER'], { encoding: 'buffer' } as never);
    const again = await client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: Buffer.from(der.stdout as unknown as Buffer).toString('base64') });
    expect(again.SerialNumber).not.toBe(issued.SerialNumber);
  });

  it('signs in the issuance itself: one audit record names the issuing key and algorithm, no separate Sign', async () => {
    const keyArn = authority.IntermediateKeyArn as string;
    const signsBefore = lookupAuditEvents(join(server.dataDir, 'audit'), { eventName: 'Sign', key: keyArn, maxResults: 50 }).events.length;
    await client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr });
    const records = lookupAuditEvents(join(server.dataDir, 'audit'), { eventName: 'HsmKms.IssueCertificate', key: keyArn, maxResults: 50 })
      .events.map((e) => e.record)
      .filter((r) => r.userIdentity.arn === arns.issuer && r.errorCode === undefined);
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      expect(record.resources.map((r) => r.ARN)).toContain(keyArn);
      expect(record.additionalEventData).toMatchObject({
        signing: { keyId: keyArn, signingAlgorithm: 'ECDSA_SHA_256', messageType: 'DIGEST', purpose: 'leaf-certificate' },
        authorization: [expect.objectContaining({ action: 'kms:Sign', resource: keyArn, decision: 'Allow' })],
      });
    }
    expect(lookupAuditEvents(join(server.dataDir, 'audit'), { eventName: 'Sign', key: keyArn, maxResults: 50 }).events).toHaveLength(signsBefore);
  });

  it('refuses while the issuing key is disabled, as Sign would, and records nothing', async () => {
    const keyArn = authority.IntermediateKeyArn as string;
    const before = await certificateCount();
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    try {
      const error = await refused(client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr }));
      expect(error).toMatchObject({ name: 'RequestFailedException', status: 400 });
      expect(error.message).toMatch(/KMS Sign failed: DisabledException: .*is disabled/);
    } finally {
      await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    }
    expect(await certificateCount()).toBe(before);
    await client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr });
    expect(await certificateCount()).toBe(before + 1);
  });

  it('refuses a CryptoUser the key policy does not name, and records nothing', async () => {
    const before = await certificateCount();
    const error = await refused(client.stranger!.call('IssueCertificate', { CaName: NAME, Csr: csr }));
    expect(error).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    expect(error.message).toContain(`${arns.stranger} is not authorized to perform: kms:Sign on resource: ${authority.IntermediateKeyArn}`);
    // CryptoOfficers never use keys; Auditors use none.
    for (const who of ['officer', 'auditor']) expect((await refused(client[who]!.call('IssueCertificate', { CaName: NAME, Csr: csr }))).name).toBe('AccessDeniedException');
    expect(await certificateCount()).toBe(before);
  });

  it('answers bad input with the CA’s AWS Private CA exceptions, 400, never 500', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ CaName: NAME, Csr: 'not a csr' }, 'MalformedCSRException'],
      [{ CaName: NAME, Csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' }, 'MalformedCSRException'],
      [{ CaName: NAME, Csr: Buffer.from('garbage!').toString('base64') }, 'MalformedCSRException'],
      [{ CaName: 'nope', Csr: csr }, 'ResourceNotFoundException'],
      [{ CaName: 'bad name!', Csr: csr }, 'InvalidArgsException'],
      [{ CaName: NAME, Csr: csr, Profile: 'email' }, 'ValidationException'],
      [{ CaName: NAME, Csr: csr, ValidityDays: 4000 }, 'InvalidArgsException'],
      [{ CaName: NAME, Csr: csr, ValidityDays: 0 }, 'ValidationException'],
      [{ CaName: NAME }, 'ValidationException'],
      [{ CaName: NAME, Csr: 5 }, 'SerializationException'],
    ];
    for (const [input, name] of cases) {
      const error = await refused(client.issuer!.call('IssueCertificate', input));
      expect({ input, name: error.name, status: error.status }).toEqual({ input, name, status: 400 });
      expect(error.message).not.toMatch(/\n|    at /);
    }
  });
});

describe('RevokeCertificate and ListCertificates', () => {
  it('revokes a leaf for the issuing key’s signer; openssl ocsp then says revoked with the reason', async () => {
    const issued = await client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr });
    const leafFile = writePem(dir, 'to-revoke.pem', issued.Certificate as string);
    const intermediateFile = writePem(dir, 'chain-intermediate.pem', pemBlocks(issued.CertificateChain as string)[0]!);
    const ocsp = () =>
      run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leafFile, '-url', `${server.endpoint}/ca/${NAME}/ocsp`, '-CAfile', rootFile]);
    expect((await ocsp()).stdout).toContain(`${leafFile}: good`);

    expect((await refused(client.stranger!.call('RevokeCertificate', { CaName: NAME, SerialNumber: issued.SerialNumber }))).name).toBe('AccessDeniedException');
    const colons = (issued.SerialNumber as string).toUpperCase().match(/../g)!.join(':');
    const revoked = await client.issuer!.call('RevokeCertificate', { CaName: NAME, SerialNumber: colons, RevocationReason: 'KEY_COMPROMISE' });
    expect(revoked).toMatchObject({ SerialNumber: issued.SerialNumber, Status: 'REVOKED', RevocationReason: 'KEY_COMPROMISE', Issuer: 'INTERMEDIATE', CrlUpdated: true });
    expect(Math.abs((revoked.RevocationDate as number) - Date.now() / 1000)).toBeLessThan(120);
    const answer = (await ocsp()).stdout;
    expect(answer).toContain(`${leafFile}: revoked`);
    expect(answer).toContain('Reason: keyCompromise');

    const twice = await refused(client.issuer!.call('RevokeCertificate', { CaName: NAME, SerialNumber: issued.SerialNumber }));
    expect(twice).toMatchObject({ name: 'RequestAlreadyProcessedException', status: 400 });
    expect((await refused(client.issuer!.call('RevokeCertificate', { CaName: NAME, SerialNumber: 'ffff' }))).name).toBe('ResourceNotFoundException');
    expect((await refused(client.issuer!.call('RevokeCertificate', { CaName: NAME, SerialNumber: 'xyz' }))).name).toBe('InvalidArgsException');
    expect((await refused(client.issuer!.call('RevokeCertificate', { CaName: NAME, SerialNumber: issued.SerialNumber, RevocationReason: 'A_A_COMPROMISE' }))).name).toBe(
      'ValidationException',
    );

    const listed = await client.auditor!.call('ListCertificates', { CaName: NAME, Status: 'REVOKED' });
    expect(listed.Certificates).toContainEqual(
      expect.objectContaining({ SerialNumber: issued.SerialNumber, Status: 'REVOKED', RevocationReason: 'KEY_COMPROMISE', RevocationDate: revoked.RevocationDate }),
    );
  });

  it('lists to CryptoOfficers and Auditors by role, to CryptoUsers only with kms:DescribeKey, a page at a time', async () => {
    const all = (await client.officer!.call('ListCertificates', { CaName: NAME, Limit: 1000 })).Certificates as Array<Record<string, unknown>>;
    expect(all.map((c) => c.Kind)).toEqual(expect.arrayContaining(['intermediate-ca', 'ocsp-responder', 'tls-server']));
    const seen: unknown[] = [];
    let marker: string | undefined;
    do {
      const page = await client.auditor!.call('ListCertificates', { CaName: NAME, Limit: 2, ...(marker ? { Marker: marker } : {}) });
      expect((page.Certificates as unknown[]).length).toBeLessThanOrEqual(2);
      seen.push(...(page.Certificates as Array<Record<string, unknown>>).map((c) => c.SerialNumber));
      marker = page.NextMarker as string | undefined;
      expect(page.Truncated).toBe(marker !== undefined);
    } while (marker);
    expect(seen).toEqual(all.map((c) => c.SerialNumber));
    expect((await refused(client.issuer!.call('ListCertificates', { CaName: NAME }))).name).toBe('AccessDeniedException');
    expect((await refused(client.auditor!.call('ListCertificates', { CaName: NAME, Marker: 'bogus' }))).name).toBe('InvalidArgsException');
  });
});

describe('root operations under quorum', () => {
  let ruleId: string;
  let approvals = 0;

  /** The call fails with QuorumApprovalRequiredException; `approver` approves; the same call then succeeds. */
  async function withApproval(call: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
    const pending = await refused(call());
    expect(pending).toMatchObject({ name: 'QuorumApprovalRequiredException', status: 400 });
    const id = pending.fields.ApprovalRequestId as string;
    const request = (await client.approver!.call('GetApprovalRequest', { ApprovalRequestId: id })).ApprovalRequest as Record<string, unknown>;
    expect(request).toMatchObject({ Requester: arns.rootop, Action: 'kms:Sign', KeyId: authority.RootKeyArn, Parameters: { CaName: NAME } });
    await client.approver!.call('ApproveRequest', { ApprovalRequestId: id });
    approvals++;
    return call();
  }

  beforeAll(async () => {
    const put = await client.officer!.call('PutQuorumRule', { Action: 'kms:Sign', KeyId: authority.RootKeyArn, MinApprovals: 1, Approvers: ['approver'] });
    ruleId = (put.Rule as { RuleId: string }).RuleId;
  });

  it('signs the root CRL on demand and renews the root tier’s OCSP responder without asking anyone', async () => {
    const crl = await fetch(`${server.endpoint}/ca/${NAME}/root.crl`);
    expect(crl.status).toBe(200);
    const crlFile = join(dir, 'root.crl');
    writeFileSync(crlFile, Buffer.from(await crl.arrayBuffer()));
    const { stdout, stderr } = await run('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', rootFile, '-verify', '-noout']);
    expect(stdout + stderr).toContain('verify OK');

    // 25 days on, the root tier's responder certificate is due for renewal: answering a
    // question about the intermediate renews it with the root key.
    const inProcess = createKmsClient({
      region: server.region,
      endpoint: 'http://hsmkms.in-process',
      credentials: server.credentials,
      requestHandler: injectRequestHandler(() => server.app.server),
    });
    try {
      const later = createCaDeps(inProcessCaKms(sdkCaKms(inProcess)), server.app.ca.store, () => new Date(Date.now() + 25 * 86_400_000));
      const intermediateFile = writePem(dir, 'current-intermediate.pem', authority.IntermediateCertificate as string);
      const requestFile = join(dir, 'ocsp-req.der');
      await run('openssl', ['ocsp', '-issuer', rootFile, '-cert', intermediateFile, '-no_nonce', '-reqout', requestFile]);
      const responders = async () =>
        ((await client.auditor!.call('ListCertificates', { CaName: NAME, Limit: 1000 })).Certificates as Array<Record<string, unknown>>).filter(
          (c) => c.Kind === 'ocsp-responder' && c.Issuer === 'ROOT',
        ).length;
      const before = await responders();
      await answerOcsp(later, NAME, new Uint8Array(readFileSync(requestFile)));
      expect(await responders()).toBe(before + 1);
    } finally {
      inProcess.destroy();
    }

    // Those root-key signatures are in the audit trail as the CA's, exempt from quorum by name.
    const signs = lookupAuditEvents(join(server.dataDir, 'audit'), { eventName: 'Sign', key: authority.RootKeyArn as string, maxResults: 50 }).events;
    const exemptions = signs.map((e) => (e.record.additionalEventData?.quorum as { exempt?: string } | undefined)?.exempt);
    expect(exemptions).toContain('ca:crl');
    expect(exemptions).toContain('ca:ocsp-responder-certificate');
    expect(signs.every((e) => e.record.errorCode === undefined)).toBe(true);
  });

  it('re-issues the intermediate only after approval, for a caller allowed to sign with the root key', async () => {
    expect((await refused(client.issuer!.call('ReissueIntermediate', { CaName: NAME }))).name).toBe('AccessDeniedException');
    const reissued = await withApproval(() => client.rootop!.call('ReissueIntermediate', { CaName: NAME, ValidityDays: 700 }));
    expect(reissued).toMatchObject({ CaName: NAME, Kind: 'intermediate-ca', Issuer: 'ROOT', PreviousSerialNumber: authority.IntermediateSerialNumber });
    expect(reissued.SerialNumber).not.toBe(authority.IntermediateSerialNumber);
    const renewed = new x509.X509Certificate(reissued.Certificate as string);
    const previous = new x509.X509Certificate(authority.IntermediateCertificate as string);
    expect(renewed.subject).toBe(previous.subject);
    expect(Buffer.from(renewed.publicKey.rawData)).toEqual(Buffer.from(previous.publicKey.rawData));
    const renewedFile = writePem(dir, 'renewed-intermediate.pem', reissued.Certificate as string);
    expect((await run('openssl', ['verify', '-CAfile', rootFile, renewedFile])).stdout).toContain(': OK');

    // Leaves issued from now on chain to the new certificate; the served chain is the new one.
    const issued = await client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr });
    expect(pemBlocks(issued.CertificateChain as string)[0]).toBe(reissued.Certificate);
    const leafFile = writePem(dir, 'after-reissue.pem', issued.Certificate as string);
    expect((await run('openssl', ['verify', '-CAfile', rootFile, '-untrusted', renewedFile, leafFile])).stdout).toContain(': OK');
    expect(await (await fetch(`${server.endpoint}/ca/${NAME}/ca.pem`)).text()).toContain(reissued.Certificate as string);

    // The inner root signature names the approved call it served.
    const signs = lookupAuditEvents(join(server.dataDir, 'audit'), { eventName: 'Sign', key: authority.RootKeyArn as string, maxResults: 50 }).events;
    const served = signs.map((e) => e.record.additionalEventData?.quorum as { exempt?: string; onBehalfOf?: { operation: string; principalArn: string } } | undefined);
    expect(served).toContainEqual({ exempt: 'ca:intermediate-certificate', onBehalfOf: expect.objectContaining({ operation: 'HsmKms.ReissueIntermediate', principalArn: arns.rootop }) });
  });

  it('revokes the intermediate only after approval; the CA then issues nothing more', async () => {
    const current = ((await client.auditor!.call('ListCertificateAuthorities', {})).CertificateAuthorities as Array<Record<string, unknown>>)[0]!;
    // Revoking the intermediate is the root key's to sign: the issuing key's signer may not.
    expect((await refused(client.issuer!.call('RevokeCertificate', { CaName: NAME, SerialNumber: current.IntermediateSerialNumber }))).name).toBe('AccessDeniedException');
    const revoked = await withApproval(() =>
      client.rootop!.call('RevokeCertificate', { CaName: NAME, SerialNumber: current.IntermediateSerialNumber, RevocationReason: 'CERTIFICATE_AUTHORITY_COMPROMISE' }),
    );
    expect(revoked).toMatchObject({ Issuer: 'ROOT', Status: 'REVOKED', RevocationReason: 'CERTIFICATE_AUTHORITY_COMPROMISE', CrlUpdated: true });
    expect(((await client.auditor!.call('ListCertificateAuthorities', {})).CertificateAuthorities as Array<Record<string, unknown>>)[0]).toMatchObject({ Status: 'REVOKED' });
    expect(await refused(client.issuer!.call('IssueCertificate', { CaName: NAME, Csr: csr }))).toMatchObject({ name: 'InvalidStateException', status: 400 });
    expect(await refused(client.rootop!.call('ReissueIntermediate', { CaName: NAME }))).toMatchObject({ name: 'QuorumApprovalRequiredException' });
    expect(approvals).toBe(2);
    await client.officer!.call('DeleteQuorumRule', { RuleId: ruleId });
    expect(await refused(client.rootop!.call('ReissueIntermediate', { CaName: NAME }))).toMatchObject({ name: 'InvalidStateException' });
  });
});
