/**
 * The audit trail read back over the API (`HsmKms.LookupAuditEvents`, `HsmKms.VerifyAuditTrail`)
 * with the signed HsmKms client against a real server, whose calls (made with the AWS SDK) are
 * what is looked up: Auditors and CryptoOfficers read, CryptoUsers are refused (and the refusal
 * is itself in the trail); filters, paging and CloudTrail's errors; the verifier finds a changed
 * record, checks digests with the audit key from the HSM, and is bounded.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAliasCommand, CreateKeyCommand, EncryptCommand, KMSClient, UpdateKeyDescriptionCommand } from '@aws-sdk/client-kms';
import { listSegments, publicKeyFingerprint } from '../../src/audit/index.js';
import { createAuditReader } from '../../src/audit/reader.js';
import { auditSignerOf } from '../../src/audit/node-id.js';
import { HsmKmsClient, HsmKmsError } from '../../src/client/hsmkms-client.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
let kms: KMSClient;
const client: Record<string, HsmKmsClient> = {};
const arns: Record<string, string> = {};
const keys: string[] = [];
let auditDir: string;

type Event = {
  EventId: string;
  EventName: string;
  EventTime: number;
  EventSource: string;
  Username: string;
  PrincipalArn: string;
  ErrorCode?: string;
  Resources: Array<{ ResourceType: string; ResourceName: string }>;
  CloudTrailEvent: string;
};

async function refused(promise: Promise<unknown>): Promise<HsmKmsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HsmKmsError);
  return error as HsmKmsError;
}

async function lookup(who: string, input: Record<string, unknown>): Promise<{ Events: Event[]; NextToken?: string }> {
  await server.app.audit!.flush();
  return (await client[who]!.call('LookupAuditEvents', input)) as unknown as { Events: Event[]; NextToken?: string };
}

const by = (AttributeKey: string, AttributeValue: string) => ({ AttributeKey, AttributeValue });

beforeAll(async () => {
  server = await startServer({ audit: { digestEveryRecords: 4 } });
  auditDir = server.app.audit!.dir;
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  client.root = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  for (const [name, role] of [
    ['auditor', 'Auditor'],
    ['officer', 'CryptoOfficer'],
    ['user', 'CryptoUser'],
  ] as const) {
    const out = (await client.root.call('CreatePrincipal', { UserName: name, Roles: [role] })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
    arns[name] = out.Arn;
    client[name] = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey } });
  }
  for (let i = 0; i < 5; i++) keys.push((await kms.send(new CreateKeyCommand({ Description: `audit ${i}` }))).KeyMetadata!.Arn!);
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/audited', TargetKeyId: keys[0] }));
  await kms.send(new EncryptCommand({ KeyId: 'alias/audited', Plaintext: Buffer.from('hello') }));
}, 120_000);

afterAll(async () => {
  kms?.destroy();
  await server?.close();
});

describe('HsmKms.LookupAuditEvents', () => {
  it('gives Auditors and CryptoOfficers the calls, newest first, as CloudTrail events', async () => {
    for (const who of ['auditor', 'officer', 'root']) {
      const page = await lookup(who, { LookupAttributes: [by('EventName', 'CreateKey')] });
      expect(page.NextToken).toBeUndefined();
      expect(page.Events.map((e) => e.Resources[0]!.ResourceName)).toEqual([...keys].reverse());
      const times = page.Events.map((e) => e.EventTime);
      expect([...times].sort((a, b) => b - a)).toEqual(times);
    }
    const [newest] = (await lookup('auditor', { LookupAttributes: [by('EventName', 'CreateKey')], MaxResults: 1 })).Events;
    expect(newest).toMatchObject({
      EventName: 'CreateKey',
      EventSource: 'kms.amazonaws.com',
      Username: 'root',
      PrincipalArn: 'arn:aws:iam::111122223333:root',
      Resources: [{ ResourceType: 'AWS::KMS::Key', ResourceName: keys[4] }],
    });
    expect(newest!.EventId).toMatch(/^[A-Za-z0-9._-]+:\d+$/);
    expect(newest!.EventTime).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(newest!.EventTime).toBeLessThanOrEqual(Date.now() / 1000);
    const record = JSON.parse(newest!.CloudTrailEvent);
    expect(record).toMatchObject({ eventName: 'CreateKey', requestParameters: { Description: 'audit 4' } });
  });

  it('refuses CryptoUsers, and their refusal is in the trail', async () => {
    const error = await refused(client.user!.call('LookupAuditEvents', {}));
    expect(error).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    expect((await refused(client.user!.call('VerifyAuditTrail', {}))).name).toBe('AccessDeniedException');
    // As CloudTrail writes KMS's refusals: errorCode AccessDenied; hsmkms's own operations by their target.
    const denied = await lookup('auditor', { LookupAttributes: [by('Username', 'user'), by('ErrorCode', 'AccessDenied')] });
    expect(denied.Events.map((e) => e.EventName)).toEqual(['HsmKms.VerifyAuditTrail', 'HsmKms.LookupAuditEvents']);
    expect(denied.Events.every((e) => e.PrincipalArn === arns.user && e.Username === 'user')).toBe(true);
    // The same principal by ARN.
    const byArn = await lookup('auditor', { LookupAttributes: [by('PrincipalArn', arns.user!), by('ErrorCode', 'AccessDenied')] });
    expect(byArn.Events.map((e) => e.EventId)).toEqual(denied.Events.map((e) => e.EventId));
  });

  it('filters by key id, key ARN, alias and event id; attributes are ANDed', async () => {
    const keyId = keys[0]!.split('/').at(-1)!;
    const byId = await lookup('auditor', { LookupAttributes: [by('KeyId', keyId)] });
    expect(byId.Events.map((e) => e.EventName)).toEqual(['Encrypt', 'CreateAlias', 'CreateKey']);
    const byArn = await lookup('auditor', { LookupAttributes: [by('ResourceName', keys[0]!)] });
    expect(byArn.Events.map((e) => e.EventId)).toEqual(byId.Events.map((e) => e.EventId));
    const byAlias = await lookup('auditor', { LookupAttributes: [by('ResourceName', 'alias/audited')] });
    expect(byAlias.Events.map((e) => e.EventName)).toEqual(['Encrypt', 'CreateAlias']);
    const both = await lookup('auditor', { LookupAttributes: [by('KeyId', keyId), by('EventName', 'Encrypt')] });
    expect(both.Events).toHaveLength(1);
    const one = await lookup('officer', { LookupAttributes: [by('EventId', both.Events[0]!.EventId)] });
    expect(one.Events).toEqual(both.Events);
    expect((await lookup('auditor', { LookupAttributes: [by('EventId', `${both.Events[0]!.EventId.split(':')[0]}:999999`)] })).Events).toEqual([]);
    // A time window before any call finds nothing.
    expect((await lookup('auditor', { StartTime: 1_000_000, EndTime: 2_000_000 })).Events).toEqual([]);
  });

  it('records a key named by bare id or alias under its ARN, as CloudTrail does', async () => {
    const keyId = keys[2]!.split('/').at(-1)!;
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: keyId, Description: 'renamed' }));
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/by-bare-id', TargetKeyId: keyId }));
    const page = await lookup('auditor', { LookupAttributes: [by('ResourceName', keys[2]!)] });
    const named = page.Events.filter((e) => e.EventName === 'UpdateKeyDescription' || e.EventName === 'CreateAlias');
    expect(named.map((e) => e.EventName)).toEqual(['CreateAlias', 'UpdateKeyDescription']);
    for (const event of named) {
      expect(event.Resources).toContainEqual({ ResourceType: 'AWS::KMS::Key', ResourceName: keys[2]! });
      expect(JSON.parse(event.CloudTrailEvent).resources).toContainEqual(expect.objectContaining({ ARN: keys[2]! }));
    }
  });

  it('pages with MaxResults and NextToken, each event once', async () => {
    const all = (await lookup('auditor', { LookupAttributes: [by('EventName', 'CreateKey')] })).Events.map((e) => e.EventId);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await lookup('auditor', { LookupAttributes: [by('EventName', 'CreateKey')], MaxResults: 2, ...(token ? { NextToken: token } : {}) });
      expect(page.Events.length).toBeLessThanOrEqual(2);
      seen.push(...page.Events.map((e) => e.EventId));
      token = page.NextToken;
      pages++;
    } while (token);
    expect(seen).toEqual(all);
    expect(pages).toBe(3);
  });

  it('answers bad input with CloudTrail’s exceptions', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ MaxResults: 0 }, 'InvalidMaxResultsException'],
      [{ MaxResults: 51 }, 'InvalidMaxResultsException'],
      [{ MaxResults: 1.5 }, 'SerializationException'],
      [{ LookupAttributes: [by('Color', 'red')] }, 'InvalidLookupAttributesException'],
      [{ LookupAttributes: [by('EventName', '')] }, 'InvalidLookupAttributesException'],
      [{ LookupAttributes: [by('KeyId', 'a'), by('ResourceName', 'b')] }, 'InvalidLookupAttributesException'],
      [{ LookupAttributes: Array.from({ length: 6 }, () => by('EventName', 'Encrypt')) }, 'InvalidLookupAttributesException'],
      [{ LookupAttributes: [by('EventId', 'no-sequence')] }, 'InvalidLookupAttributesException'],
      [{ LookupAttributes: 'EventName' }, 'SerializationException'],
      [{ StartTime: 2_000_000, EndTime: 1_000_000 }, 'InvalidTimeRangeException'],
      [{ StartTime: -1 }, 'InvalidTimeRangeException'],
      [{ StartTime: '2026-01-01' }, 'SerializationException'],
      [{ NextToken: 'bm90IGEgdG9rZW4' }, 'InvalidNextTokenException'],
    ];
    for (const [input, name] of cases) {
      const error = await refused(client.auditor!.call('LookupAuditEvents', input));
      expect({ input, name: error.name, status: error.status }).toEqual({ input, name, status: 400 });
      expect(error.message.length).toBeGreaterThan(10);
    }
  });
});

describe('HsmKms.VerifyAuditTrail', () => {
  it('verifies every node’s chain with the audit key from the HSM', async () => {
    await server.app.audit!.flush();
    const report = await client.auditor!.call('VerifyAuditTrail', {});
    const spki = await auditSignerOf(server.app.backend)!.auditPublicKey();
    expect(report).toMatchObject({ Ok: true, KeyFingerprint: publicKeyFingerprint(spki!), FindingsTruncated: false });
    const nodes = report.Nodes as Array<Record<string, number | string>>;
    expect(nodes.map((n) => n.NodeId)).toEqual([...listSegments(auditDir).keys()]);
    const [node] = nodes;
    expect(node).toMatchObject({ FirstSequence: 1, Files: 1 });
    expect(node!.Records as number).toBeGreaterThan(20);
    expect(node!.Digests as number).toBeGreaterThan(3);
    expect(node!.SignedThrough as number).toBeGreaterThan(16);
    expect((report.Findings as Array<{ Severity: string }>).filter((f) => f.Severity === 'problem')).toEqual([]);
    expect(report.To as number).toBeGreaterThan((report.From as number) + 86_399);
  });

  it('finds a record changed in the file, and says where', async () => {
    await server.app.audit!.flush();
    const [segment] = listSegments(auditDir).values().next().value!;
    const original = readFileSync(segment!.path, 'utf8');
    const changed = original.replace('"Description":"audit 2"', '"Description":"audit X"');
    expect(changed).not.toBe(original);
    writeFileSync(segment!.path, changed);
    try {
      const report = await client.officer!.call('VerifyAuditTrail', {});
      expect(report.Ok).toBe(false);
      const problems = (report.Findings as Array<Record<string, unknown>>).filter((f) => f.Severity === 'problem');
      expect(problems[0]).toMatchObject({ Kind: 'changed', File: segment!.name });
      expect(problems[0]!.Line as number).toBeGreaterThan(0);
    } finally {
      // Whatever was appended meanwhile stays; only the changed record is put back.
      writeFileSync(segment!.path, readFileSync(segment!.path, 'utf8').replace('"Description":"audit X"', '"Description":"audit 2"'));
    }
    expect((await client.auditor!.call('VerifyAuditTrail', {})).Ok).toBe(true);
  });

  it('refuses a range it will not verify, and a second verification at once', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await refused(client.auditor!.call('VerifyAuditTrail', { From: now, To: now - 10 }))).name).toBe('InvalidTimeRangeException');
    expect((await refused(client.auditor!.call('VerifyAuditTrail', { From: now - 40 * 86_400, To: now }))).name).toBe('InvalidTimeRangeException');
    expect((await refused(client.auditor!.call('VerifyAuditTrail', { From: 'yesterday' }))).name).toBe('SerializationException');

    // The reader's own bounds, on this server's trail.
    const publicKey = async () => auditSignerOf(server.app.backend)!.auditPublicKey();
    const range = { from: new Date(Date.now() - 3600_000), to: new Date() };
    const small = createAuditReader({ dir: auditDir, publicKey, limits: { verifyBytes: 100 } });
    await expect(small.verify(range)).rejects.toMatchObject({ type: 'LimitExceededException', message: expect.stringMatching(/at most 0\.0 MiB.*hsmkms audit verify/) });
    const reader = createAuditReader({ dir: auditDir, publicKey });
    const first = reader.verify(range);
    await expect(reader.verify(range)).rejects.toMatchObject({ type: 'ThrottlingException' });
    expect((await first).ok).toBe(true);
    expect((await reader.verify(range)).ok).toBe(true);
  });
});

describe('without an audit trail', () => {
  it('says the trail is off rather than answering nothing', async () => {
    const off = await startServer({ audit: { enabled: false } });
    try {
      const root = new HsmKmsClient({ endpoint: off.endpoint, region: off.region, credentials: off.credentials });
      for (const operation of ['LookupAuditEvents', 'VerifyAuditTrail'])
        expect(await refused(root.call(operation, {}))).toMatchObject({ name: 'UnsupportedOperationException', message: expect.stringMatching(/audit trail off/) });
    } finally {
      await off.close();
    }
  });
});
