/**
 * The CA's keys are ordinary KMS keys: SIGN_VERIFY, generated in the HSM (origin AWS_KMS),
 * the default key policy, tagged with the CA and role. In the token they exist only as
 * sensitive, non-extractable objects, and the CA module reaches them only through the KMS API.
 */
import 'reflect-metadata';
import { createPrivateKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerOcsp, initCa, type CaAuthorityRecord } from '../../src/ca/index.js';
import { defaultKeyPolicy } from '../../src/core/policy/default-policy.js';
import { startServer, type RunningServer } from '../support/server.js';
import { sessionObjects } from '../support/session-objects.js';
import { TEST_SETTINGS } from '../support/kms-deps.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-keys-'));
let server: RunningServer;
let authority: CaAuthorityRecord;

beforeAll(async () => {
  server = await startServer();
  const created = await initCa(server.app.ca, { name: 'keys', subject: 'CN=Keys Root,O=hsmkms tests,C=US', baseUrl: server.endpoint });
  authority = created.authority;
  // One status query, so that the OCSP key has signed too.
  const root = join(dir, 'root.pem');
  const intermediate = join(dir, 'intermediate.pem');
  writeFileSync(root, created.rootPem);
  writeFileSync(intermediate, created.intermediatePem);
  await run('openssl', ['ocsp', '-issuer', root, '-cert', intermediate, '-reqout', join(dir, 'req.der')]);
  await answerOcsp(server.app.ca, 'keys', readFileSync(join(dir, 'req.der')));
}, 300_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CA keys', () => {
  it('are SIGN_VERIFY KMS keys made in the HSM with the default policy, tagged with CA and role', async () => {
    const store = server.app.store;
    const roles: Record<string, string> = { root: authority.rootKeyId, intermediate: authority.intermediateKeyId, ocsp: authority.ocspKeyId };
    for (const [role, arn] of Object.entries(roles)) {
      const keyId = arn.split('/').pop()!;
      const key = (await store.getKey(keyId))!;
      expect(key, role).toBeDefined();
      expect(key).toMatchObject({ arn, keySpec: 'ECC_NIST_P384', keyUsage: 'SIGN_VERIFY', origin: 'AWS_KMS', keyState: 'Enabled' });
      expect(key.policy).toBe(defaultKeyPolicy(TEST_SETTINGS));
      expect(await store.getTags(keyId)).toEqual([
        { TagKey: 'hsmkms:ca', TagValue: 'keys' },
        { TagKey: 'hsmkms:ca-role', TagValue: role },
      ]);
      // What the store holds is the HSM's wrapped blob, not a private key anyone could load.
      const [version] = await store.listKeyVersions(keyId);
      expect(() => createPrivateKey({ key: Buffer.from(version!.wrappedMaterial), format: 'der', type: 'pkcs8' })).toThrow();
      if (role !== 'ocsp') {
        const certificate = new x509.X509Certificate(role === 'root' ? authority.rootCertificate : authority.intermediateCertificate);
        expect(Buffer.from(certificate.publicKey.rawData).equals(Buffer.from(version!.publicKey!))).toBe(true);
      }
    }
  });

  it('exist in the token only as sensitive, non-extractable private keys', async () => {
    const m = server.app.backend.module;
    const P = pkcs11js;
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === process.env.HSMKMS_TEST_TOKEN)!;
    const s = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION);
    try {
      // The working copies the CA's signatures used are session objects of this process:
      // root, intermediate and OCSP key, nothing else.
      const handles = await sessionObjects(m, s, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }]);
      expect(handles).toHaveLength(3);
      for (const h of handles) {
        const [sensitive, extractable] = m.C_GetAttributeValue(s, h, [{ type: P.CKA_SENSITIVE }, { type: P.CKA_EXTRACTABLE }]);
        expect(sensitive!.value[0]).toBe(1);
        expect(extractable!.value[0]).toBe(0);
        expect(() => m.C_GetAttributeValue(s, h, [{ type: P.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      }
    } finally {
      m.C_CloseSession(s);
    }
  });

  it('are reached by the CA module only through the KMS API: no key generation, no private keys, no backend', () => {
    // The marker format, the errors its store and the API speak, the port api.ts implements,
    // and the context that marks its own in-process KMS calls.
    const SHARED_CORE_MODULES = ['list-marker', 'errors', 'ports', 'store-error', 'certificates/port', 'in-process-calls', 'caller-text'];
    const caDir = fileURLToPath(new URL('../../src/ca/', import.meta.url));
    const files = readdirSync(caDir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const source = readFileSync(join(caDir, file), 'utf8');
      expect(source, file).not.toMatch(/generateKeyPair|createPrivateKey|generateKey\(|['"]pkcs8['"]|privateKey\s*:/);
      expect(source, file).not.toMatch(/from '\.\.\/(backend|store|http)\//);
      const core = [...source.matchAll(/from '\.\.\/core\/([\w/-]+)\.js'/g)].map((m) => m[1]);
      expect(core.filter((m) => !SHARED_CORE_MODULES.includes(m!)), file).toEqual([]);
      expect(source, file).not.toMatch(/pkcs11js|graphene/);
    }
  });
});
