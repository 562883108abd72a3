/**
 * Shared pieces of the TLS offload tests: the test token's HsmConfig, a throwaway CA that
 * issues certificates for HSM public keys, and small clients (curl, openssl s_client).
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:net';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll } from 'vitest';
import type { HsmConfig } from '../../src/config/hsm.js';
import { generateTlsKey } from '../../src/tls/index.js';
import { interposerControl, type InterposerControl } from '../support/interposer.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const run = promisify(execFile);

/** The per-run SoftHSM2 token of test/global-setup.ts. */
export function testHsm(): HsmConfig {
  const { HSMKMS_TEST_MODULE, HSMKMS_TEST_TOKEN, HSMKMS_TEST_PIN_FILE } = process.env;
  if (!HSMKMS_TEST_MODULE || !HSMKMS_TEST_TOKEN || !HSMKMS_TEST_PIN_FILE) throw new Error('test/global-setup.ts did not run');
  return { modulePath: HSMKMS_TEST_MODULE, token: { label: HSMKMS_TEST_TOKEN }, pin: { file: HSMKMS_TEST_PIN_FILE }, profile: 'softhsm2' };
}

/** The same token behind the PKCS#11 interposer (test/pkcs11-interposer), for tests that make it lie or log. */
export function interposedTestHsm(profile: HsmConfig['profile']): HsmConfig {
  const { HSMKMS_TEST_INTERPOSER } = process.env;
  if (!HSMKMS_TEST_INTERPOSER) throw new Error('test/global-setup.ts did not run');
  return { ...testHsm(), modulePath: HSMKMS_TEST_INTERPOSER, profile };
}

/**
 * Closes every session this process has on the token, behind the addon's back, as a device
 * restart would: C_CloseAllSessions, which any application on the token may call.
 */
export function closeTokenSessions(hsm: HsmConfig): void {
  const { module, slot } = tokenSlot(hsm);
  module.C_CloseAllSessions(slot);
}

/** The test token's module through pkcs11js (sharing the library the addon initialised in this process) and its slot. */
export function tokenSlot(hsm: HsmConfig): { module: pkcs11js.PKCS11; slot: Buffer } {
  const module = new pkcs11js.PKCS11();
  module.load(hsm.modulePath);
  try {
    module.C_Initialize();
  } catch (e) {
    if ((e as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
  }
  const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === hsm.token.label);
  if (!slot) throw new Error(`no token ${hsm.token.label}`);
  return { module, slot };
}

/** A label unique to this run and file, so test files sharing the token do not collide. */
export function uniqueLabel(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface TestCa {
  pem: string;
  /** Issues a leaf certificate for the given public key (DER SPKI); CN = names[0], SANs = names. */
  issue(spki: Buffer, names: string[], validity?: { notBefore?: Date; notAfter?: Date }): Promise<string>;
}

export async function createTestCa(): Promise<TestCa> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=hsmkms test CA',
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - 60_000),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return {
    pem: ca.toString('pem'),
    async issue(spki, names, validity = {}) {
      const leaf = await x509.X509CertificateGenerator.create({
        subject: `CN=${names[0]}`,
        issuer: ca.subject,
        publicKey: new x509.PublicKey(spki),
        signingKey: keys.privateKey as unknown as x509.X509CertificateCreateWithKeyParams["signingKey"],
        signingAlgorithm: algorithm,
        notBefore: validity.notBefore ?? new Date(Date.now() - 60_000),
        ...(validity.notAfter ? { notAfter: validity.notAfter } : {}),
        extensions: [
          new x509.BasicConstraintsExtension(false),
          new x509.SubjectAlternativeNameExtension(names.map((value) => (/^[\d.]+$/.test(value) ? { type: 'ip' as const, value } : { type: 'dns' as const, value }))),
        ],
      });
      return leaf.toString('pem');
    },
  };
}

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** `openssl s_client` against the server; returns its combined output. */
export async function sClient(port: number, caFile: string, extra: string[]): Promise<string> {
  const { stdout, stderr } = await run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${port} -CAfile ${caFile} -verify_return_error ${extra.join(' ')} 2>&1 || true`], {
    timeout: 20_000,
  });
  return stdout + stderr;
}

/** What {@link interposedTlsFixture} sets up for a test file. */
export interface InterposedTlsFixture {
  control: InterposerControl;
  hsm: HsmConfig;
  /** The throwaway CA's certificate, for clients (`curl --cacert`). */
  caFile: string;
  /** The interposer's object log (test/pkcs11-interposer), on from beforeAll. */
  log: string;
  /** An ECDSA P-256 key made in the token and its certificate for localhost (set in beforeAll). */
  ec: { keyUri: string; cert: string };
  /** The object log's lines so far. */
  logLines(): string[];
}

/**
 * The test token behind the interposer, driven by this file's control file with the object log
 * on, and a server key with its certificate: made in beforeAll, removed in afterAll. Call at the
 * top of the test file, before anything loads the module.
 */
export function interposedTlsFixture(prefix: string): InterposedTlsFixture {
  const dir = mkdtempSync(join(tmpdir(), `hsmkms-tls-${prefix}-`));
  const fixture: InterposedTlsFixture = {
    control: interposerControl(),
    hsm: interposedTestHsm('softhsm2'),
    caFile: join(dir, 'ca.pem'),
    log: join(dir, 'objects.log'),
    ec: { keyUri: '', cert: '' },
    logLines: () => (existsSync(fixture.log) ? readFileSync(fixture.log, 'utf8').split('\n').filter(Boolean) : []),
  };
  beforeAll(async () => {
    const ca = await createTestCa();
    writeFileSync(fixture.caFile, ca.pem);
    const key = generateTlsKey(fixture.hsm, uniqueLabel(`${prefix}-ec`), 'ECC_NIST_P256');
    fixture.ec = { keyUri: key.keyUri, cert: await ca.issue(key.spki, ['localhost']) };
    fixture.control.set([`object_log=${fixture.log}`]);
  });
  afterAll(() => {
    fixture.control.set([]);
    fixture.control.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}
