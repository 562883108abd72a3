/**
 * The XKS proxy's secondary authorization (`serve --xks-policy PREFIX=FILE`): an IAM-style policy
 * per URI prefix over the requestMetadata AWS KMS sends, evaluated by the key-policy evaluator —
 * over real HTTP, signed with the AWS SDK's SigV4 signer as AWS KMS signs — and every
 * authenticated XKS call in the audit trail with the decision, never the plaintext.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupAuditEvents } from '../../src/audit/index.js';
import { TokenXksKeys } from '../../src/backend/pkcs11/xks-keys.js';
import { readXksPolicies } from '../../src/cli/xks-policy-options.js';
import { ConfigError, readPin } from '../../src/config/hsm.js';
import { createXksCredential, type NewXksCredential } from '../../src/xks/credentials.js';
import { createXksPolicyAuthorizer, XksPolicyError } from '../../src/xks/policy.js';
import { startServer, type RunningServer } from '../support/server.js';
import { signedXksPost, type XksReply } from '../support/xks-request.js';
import { tokenConfig } from '../backend/pkcs11/helpers.js';

const run = randomBytes(4).toString('hex');
const KEY = `xks-${run}-authz`;
const GUARDED = `guarded-${run}`;
const OPEN = `open-${run}`;
const ACCOUNT = '123456789012';
const APP = `arn:aws:iam::${ACCOUNT}:role/app`;
const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;
const STRANGER = 'arn:aws:iam::999999999999:role/app';
const KMS_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KMS_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/0000abcd-12ab-34cd-56ef-1234567890ab`;
const SECRET_TEXT = 'a secret the trail must not hold';

const POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'AppUsesTheKey', Effect: 'Allow', Principal: { AWS: APP }, Action: ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'], Resource: KMS_KEY },
    { Sid: 'AccountDescribes', Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: ['kms:CreateKey', 'kms:DescribeKey'], Resource: '*' },
    {
      Sid: 'NotThroughEc2',
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:*',
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } },
    },
    { Sid: 'ThisKeyOnly', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringNotEquals: { 'xks:KeyId': KEY } } },
  ],
};

let server: RunningServer;
let keys: TokenXksKeys;
const credential: Record<string, NewXksCredential> = {};
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-xks-authz-'));

async function post(prefix: string, path: string, body: unknown, who = credential[prefix]!): Promise<XksReply> {
  return signedXksPost(server.endpoint, prefix, path, body, who);
}

function metadata(kmsOperation: string, extra: Record<string, string> = {}) {
  return { awsPrincipalArn: APP, kmsKeyArn: KMS_KEY, kmsOperation, kmsRequestId: randomBytes(8).toString('hex'), ...extra };
}

function encryptBody(extra: Record<string, string> = {}) {
  return { requestMetadata: metadata('Encrypt', extra), plaintext: Buffer.from(SECRET_TEXT).toString('base64'), encryptionAlgorithm: 'AES_GCM' };
}

beforeAll(async () => {
  const policyFile = join(dir, 'guarded.json');
  writeFileSync(policyFile, JSON.stringify(POLICY));
  server = await startServer({ xksPolicies: readXksPolicies([`/${GUARDED}/=${policyFile}`], undefined), audit: {} });
  keys = await TokenXksKeys.open({ ...tokenConfig(), pin: async () => readPin(tokenConfig().pin) });
  await keys.create(KEY, { encrypt: true, decrypt: true });
  await keys.create(`${KEY}-2`, { encrypt: true, decrypt: true });
  for (const prefix of [GUARDED, OPEN]) credential[prefix] = await createXksCredential(server.app.store, server.app.backend, prefix, new Date());
}, 120_000);

afterAll(async () => {
  await keys?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('XKS secondary authorization', () => {
  it('lets the principal the policy names use the key, and decrypt what it encrypted', async () => {
    const encrypted = await post(GUARDED, `keys/${KEY}/encrypt`, encryptBody());
    expect(encrypted.status).toBe(200);
    const dataKey = await post(GUARDED, `keys/${KEY}/encrypt`, { ...encryptBody(), requestMetadata: metadata('GenerateDataKey') });
    expect(dataKey.status).toBe(200);
    const decrypted = await post(GUARDED, `keys/${KEY}/decrypt`, {
      requestMetadata: metadata('Decrypt'),
      encryptionAlgorithm: 'AES_GCM',
      ciphertext: encrypted.json.ciphertext,
      initializationVector: encrypted.json.initializationVector,
      authenticationTag: encrypted.json.authenticationTag,
    });
    expect(decrypted).toEqual({ status: 200, json: { plaintext: Buffer.from(SECRET_TEXT).toString('base64') } });
    // Naming the account in Principal covers its principals (AWS KMS has authorized them already).
    const described = await post(GUARDED, `keys/${KEY}/metadata`, { requestMetadata: metadata('DescribeKey', { awsPrincipalArn: MALLORY }) });
    expect(described).toMatchObject({ status: 200, json: { keySpec: 'AES_256', keyStatus: 'ENABLED' } });
  });

  it('refuses with AccessDeniedException (403) what the policy does not allow or denies', async () => {
    const refusals: Array<[string, string, unknown]> = [
      ['another principal of the account', `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY })],
      ['the same role name in another account', `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: STRANGER })],
      ['another AWS KMS key', `keys/${KEY}/encrypt`, encryptBody({ kmsKeyArn: OTHER_KMS_KEY })],
      ['an operation not allowed', `keys/${KEY}/encrypt`, { ...encryptBody(), requestMetadata: metadata('ReEncrypt') }],
      ['an explicit Deny on kms:ViaService', `keys/${KEY}/encrypt`, encryptBody({ kmsViaService: 'ec2.us-east-1.amazonaws.com' })],
      ['an explicit Deny on xks:KeyId', `keys/${KEY}-2/encrypt`, encryptBody()],
    ];
    for (const [what, path, body] of refusals) {
      const reply = await post(GUARDED, path, body);
      expect({ what, status: reply.status, errorName: reply.json.errorName }).toEqual({ what, status: 403, errorName: 'AccessDeniedException' });
      expect(reply.json.errorMessage).toMatch(/may not kms:\w+ through this XKS proxy/);
    }
    // Health carries no principal and is not subject to the policy.
    expect((await post(GUARDED, 'health', { requestMetadata: { kmsOperation: 'KmsHealthCheck', kmsRequestId: 'h1' } })).status).toBe(200);
  });

  it('leaves a prefix without a policy to SigV4 alone', async () => {
    expect((await post(OPEN, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).status).toBe(200);
    expect((await post(OPEN, `keys/${KEY}-2/encrypt`, encryptBody({ kmsViaService: 'ec2.us-east-1.amazonaws.com' }))).status).toBe(200);
  });

  it('records every authenticated XKS call with the decision, and no plaintext', async () => {
    await server.app.audit!.flush();
    const auditDir = server.app.audit!.dir;
    const encrypts = lookupAuditEvents(auditDir, { eventName: 'Xks.Encrypt' }).events;
    expect(encrypts.length).toBe(2 + 6 + 2);
    for (const event of encrypts) expect(event.line).not.toContain(Buffer.from(SECRET_TEXT).toString('base64'));

    const ec2 = encrypts.find((e) => e.record.errorCode === 'AccessDeniedException' && JSON.stringify(e.record.requestParameters).includes('ec2.us-east-1'));
    expect(ec2?.record).toMatchObject({
      userIdentity: { arn: APP, accountId: ACCOUNT },
      resources: [{ ARN: KMS_KEY }],
      requestParameters: { keyId: KEY, encryptionAlgorithm: 'AES_GCM', requestMetadata: { kmsOperation: 'Encrypt', kmsViaService: 'ec2.us-east-1.amazonaws.com' } },
      additionalEventData: { xks: { uriPrefix: GUARDED, accessKeyId: credential[GUARDED]!.accessKeyId, secondaryAuthorization: { decision: 'Deny', statement: 'NotThroughEc2' } } },
    });
    const allowed = encrypts.filter((e) => e.record.errorCode === undefined);
    expect(allowed.map((e) => (e.record.additionalEventData?.xks as Record<string, unknown>).secondaryAuthorization)).toEqual([
      { decision: 'NotChecked' },
      { decision: 'NotChecked' },
      { decision: 'Allow', statement: 'AppUsesTheKey' },
      { decision: 'Allow', statement: 'AppUsesTheKey' },
    ]);
    // By the AWS KMS key, as LookupAuditEvents' KeyId finds it; health by the credential.
    const byKey = lookupAuditEvents(auditDir, { key: KMS_KEY, eventName: 'Xks.Decrypt' }).events;
    expect(byKey).toHaveLength(1);
    expect(byKey[0]!.line).not.toContain(Buffer.from(SECRET_TEXT).toString('base64'));
    const health = lookupAuditEvents(auditDir, { eventName: 'Xks.GetHealthStatus' }).events;
    expect(health.map((e) => e.record.userIdentity.arn)).toContain(`xks-credential/${credential[GUARDED]!.accessKeyId}`);
  });

  it('does not record a request whose signature does not verify', async () => {
    await server.app.audit!.flush();
    const before = lookupAuditEvents(server.app.audit!.dir, { eventName: 'Xks.GetKeyMetadata' }).events.length;
    const forged = await post(GUARDED, `keys/${KEY}/metadata`, { requestMetadata: metadata('DescribeKey') }, { ...credential[GUARDED]!, secretAccessKey: 'wrong' });
    expect(forged).toMatchObject({ status: 401, json: { errorName: 'AuthenticationFailedException' } });
    await server.app.audit!.flush();
    expect(lookupAuditEvents(server.app.audit!.dir, { eventName: 'Xks.GetKeyMetadata' }).events.length).toBe(before);
  });
});

describe('XKS calls and the audit trail', () => {
  it('are refused while the trail cannot be written, and withheld when their record fails', async () => {
    const sink = server.app.audit!;
    const accepting = sink.accepting.bind(sink);
    sink.accepting = () => false;
    try {
      const refused = await post(GUARDED, `keys/${KEY}/encrypt`, encryptBody());
      expect(refused).toMatchObject({ status: 503, json: { errorName: 'DependencyTimeoutException' } });
    } finally {
      sink.accepting = accepting;
    }
    const record = sink.record.bind(sink);
    sink.record = () => Promise.reject(new Error('disk full'));
    try {
      const withheld = await post(GUARDED, `keys/${KEY}/encrypt`, encryptBody());
      expect(withheld).toMatchObject({ status: 503, json: { errorName: 'DependencyTimeoutException', errorMessage: expect.stringMatching(/withheld/) } });
      expect(withheld.json.ciphertext).toBeUndefined();
    } finally {
      sink.record = record;
    }
    expect((await post(GUARDED, `keys/${KEY}/encrypt`, encryptBody())).status).toBe(200);
  });
});

describe('XKS policy configuration', () => {
  it('refuses a policy that does not parse, naming its prefix', () => {
    expect(() => createXksPolicyAuthorizer(new Map([['tenant/a', '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}']]))).toThrow(XksPolicyError);
    expect(() => createXksPolicyAuthorizer(new Map([['tenant/a', 'not json']]))).toThrow(/URI prefix 'tenant\/a'/);
  });

  it('reads PREFIX=FILE from the options and the environment, and says what is wrong', () => {
    const file = join(dir, 'p.json');
    writeFileSync(file, JSON.stringify(POLICY));
    expect([...readXksPolicies([`/a/b/=${file}`], `c=${file}, =${file}`)!.keys()]).toEqual(['a/b', 'c', '']);
    expect(readXksPolicies([], undefined)).toBeUndefined();
    expect(() => readXksPolicies(['a'], undefined)).toThrow(ConfigError);
    expect(() => readXksPolicies([`a=${file}`, `/a/=${file}`], undefined)).toThrow(/given twice/);
    expect(() => readXksPolicies([`a b=${file}`], undefined)).toThrow(/URI prefix/);
    expect(() => readXksPolicies([`a=${join(dir, 'missing.json')}`], undefined)).toThrow(/cannot be read \(ENOENT\)/);
    writeFileSync(file, 'x'.repeat(40_000));
    expect(() => readXksPolicies([`a=${file}`], undefined)).toThrow(/at most 32768 bytes/);
  });
});

describe('XKS policy reload (serve reloads on SIGHUP)', () => {
  it('puts new policies in force for the next request, and keeps those in force when one does not parse', async () => {
    const original = new Map([[GUARDED, JSON.stringify(POLICY)]]);
    expect((await post(OPEN, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).status).toBe(200);
    server.app.reloadXksPolicies(new Map([...original, [OPEN, JSON.stringify(POLICY)]]));
    expect(await post(OPEN, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).toMatchObject({ status: 403, json: { errorName: 'AccessDeniedException' } });
    expect((await post(OPEN, `keys/${KEY}/encrypt`, encryptBody())).status).toBe(200);

    expect(() => server.app.reloadXksPolicies(new Map([[OPEN, 'not json']]))).toThrow(ConfigError);
    expect((await post(OPEN, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).status).toBe(403);

    server.app.reloadXksPolicies(original);
    expect((await post(OPEN, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).status).toBe(200);
    expect((await post(GUARDED, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).status).toBe(403);
    server.app.reloadXksPolicies(undefined);
    expect((await post(GUARDED, `keys/${KEY}/encrypt`, encryptBody({ awsPrincipalArn: MALLORY }))).status).toBe(200);
    server.app.reloadXksPolicies(original);
  });
});
