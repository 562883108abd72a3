/**
 * Configuration mistakes fail at start-up with a code and a message a person can act on:
 * wrong PIN, missing module or token, missing key, a certificate for another key, a PIN in
 * the URI. The wrong-PIN case runs first: once this process is logged in to the token, the
 * module no longer checks PINs (login state is per application in PKCS#11).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HsmConfig } from '../../src/config/hsm.js';
import { createHsmHttpsServer, createHsmSecureContext, generateTlsKey, HsmTlsError } from '../../src/tls/index.js';
import { createTestCa, testHsm, uniqueLabel, type TestCa } from './support.js';

const hsm = testHsm();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-errors-'));

function expectHsmTlsError(action: () => unknown, code: string, message: RegExp): HsmTlsError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(HsmTlsError);
    const e = error as HsmTlsError;
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected ${code}`);
}

describe('TLS offload start-up errors', () => {
  let ca: TestCa;
  let keyUri = '';
  let cert = '';

  it('reports a wrong PIN without revealing it', () => {
    const wrongPin = 'not-the-pin-4711';
    const pinFile = join(dir, 'wrong.pin');
    writeFileSync(pinFile, wrongPin, { mode: 0o600 });
    const wrong: HsmConfig = { ...hsm, pin: { file: pinFile } };
    const e = expectHsmTlsError(() => createHsmSecureContext({ hsm: wrong, keyUri: 'pkcs11:object=any', cert: 'x' }), 'CKR_PIN_INCORRECT', /PIN is wrong/);
    expect(e.ckr).toBe(0xa0);
    expect(e.fn).toBe('C_Login');
    expect(e.message).not.toContain(wrongPin);
  });

  beforeAll(async () => {
    ca = await createTestCa();
  });

  it('reports a token that does not exist', () => {
    const missing: HsmConfig = { ...hsm, token: { label: 'no-such-token' } };
    expectHsmTlsError(() => createHsmSecureContext({ hsm: missing, keyUri: 'pkcs11:object=any', cert: 'x' }), 'ERR_TOKEN_NOT_FOUND', /No token labelled "no-such-token"/);
  });

  it('reports a PKCS#11 module that cannot be loaded', () => {
    const missing: HsmConfig = { ...hsm, modulePath: join(dir, 'missing.so') };
    expectHsmTlsError(() => createHsmSecureContext({ hsm: missing, keyUri: 'pkcs11:object=any', cert: 'x' }), 'ERR_PKCS11_MODULE', /Cannot load the PKCS#11 module/);
  });

  it('reports a key that does not exist', () => {
    expectHsmTlsError(() => createHsmSecureContext({ hsm, keyUri: 'pkcs11:object=no-such-key;type=private', cert: 'x' }), 'ERR_KEY_NOT_FOUND', /No private key with object=no-such-key/);
  });

  it('refuses a PIN inside the key URI', () => {
    expectHsmTlsError(() => createHsmSecureContext({ hsm, keyUri: 'pkcs11:object=k?pin-value=1234', cert: 'x' }), 'ERR_PKCS11_URI', /carries a PIN/);
  });

  it('refuses a URI that names no key', () => {
    expectHsmTlsError(() => createHsmSecureContext({ hsm, keyUri: 'pkcs11:type=private', cert: 'x' }), 'ERR_PKCS11_URI', /object= \(label\) or id=/);
  });

  it('reports a certificate whose public key is not the HSM key', async () => {
    const key = generateTlsKey(hsm, uniqueLabel('tls-mismatch'), 'ECC_NIST_P256');
    const other = generateTlsKey(hsm, uniqueLabel('tls-other'), 'ECC_NIST_P256');
    keyUri = key.keyUri;
    cert = await ca.issue(other.spki, ['localhost']);
    expectHsmTlsError(() => createHsmSecureContext({ hsm, keyUri, cert }), 'ERR_CERT_KEY_MISMATCH', /does not belong to the HSM key/);
    expectHsmTlsError(() => createHsmHttpsServer({ hsm, certificates: [{ keyUri, cert }] }), 'ERR_CERT_KEY_MISMATCH', /public keys differ/);
  });

  it('accepts the certificate issued for the key', async () => {
    const matching = await ca.issue(generateTlsKey(hsm, uniqueLabel('tls-match'), 'RSA_2048').spki, ['localhost']);
    expect(() => createHsmSecureContext({ hsm, keyUri, cert: matching })).toThrow(/does not belong/);
    const own = generateTlsKey(hsm, uniqueLabel('tls-own'), 'RSA_2048');
    expect(createHsmSecureContext({ hsm, keyUri: own.keyUri, cert: await ca.issue(own.spki, ['localhost']) })).toBeDefined();
  });

  it('refuses to generate a second key with a label already taken', () => {
    const label = uniqueLabel('tls-dup');
    generateTlsKey(hsm, label, 'ECC_NIST_P256');
    expectHsmTlsError(() => generateTlsKey(hsm, label, 'ECC_NIST_P256'), 'ERR_KEY_EXISTS', /already holds a private key labelled/);
  });
});
