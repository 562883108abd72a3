/**
 * The audit key (AuditSigner capability) on a token of its own, inspected with pkcs11-tool:
 * created on first use only, ECDSA P-384, private half sensitive, never extractable, sign-only;
 * racing processes converge on one key; signatures verify with node:crypto.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend, type Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { closeAllSessions, env } from './helpers.js';

const label = `audit-${randomBytes(4).toString('hex')}`;
// Throwaway PINs for a throwaway test token: on pkcs11-tool's argv in tests only.
const userPin = randomBytes(8).toString('hex');
const soPin = randomBytes(8).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-audit-key-'));
const pinFile = join(dir, 'pin');
const open = () => openPkcs11Backend({ modulePath: env('HSMKMS_TEST_MODULE'), token: { label }, pin: { file: pinFile }, profile: 'softhsm2' });
let first: Pkcs11Backend;
let second: Pkcs11Backend;

function auditObjects(): string[] {
  const listing = execFileSync(
    'pkcs11-tool',
    ['--module', env('HSMKMS_TEST_MODULE'), '--token-label', label, '--login', '--pin', userPin, '--list-objects'],
    { env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return listing.split(/\n(?=\S)/).filter((b) => /Object;/.test(b) && b.includes('hsmkms-audit-key'));
}

beforeAll(async () => {
  await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin, userPin });
  writeFileSync(pinFile, userPin, { mode: 0o600 });
  [first, second] = await Promise.all([open(), open()]);
});
afterAll(async () => {
  await first?.close();
  await second?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('audit signing key', () => {
  it('is created on first use only; processes racing to create it converge on one key', async () => {
    expect(auditObjects()).toHaveLength(0);
    const [a, b] = await Promise.all([first.auditPublicKey(), second.auditPublicKey()]);
    expect(a.equals(b)).toBe(true);
    const key = createPublicKey({ key: a, format: 'der', type: 'spki' });
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    const third = await open();
    try {
      expect((await third.auditPublicKey()).equals(a)).toBe(true);
    } finally {
      await third.close();
    }
  });

  it('keeps the private half in the token: sensitive, never extractable, sign only', async () => {
    await first.auditPublicKey();
    const objects = auditObjects();
    const privateKeys = objects.filter((b) => b.startsWith('Private Key Object; EC'));
    expect(privateKeys.length).toBeGreaterThanOrEqual(1);
    for (const block of privateKeys) {
      expect(block).toMatch(/Access:.*\bsensitive\b/);
      expect(block).toMatch(/Access:.*never extractable/);
      expect(block).toMatch(/Usage:\s+sign\s*$/m);
    }
    expect(objects.filter((b) => b.startsWith('Public Key Object; EC'))).toHaveLength(privateKeys.length);
  });

  it('signs ECDSA P-384 over SHA-384 of the payload, verifiable with the exported key', async () => {
    const spki = await first.auditPublicKey();
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const payload = Buffer.from('{"eventType":"HsmKmsAuditDigest"}');
    const signature = await first.signAuditDigest(payload);
    expect(verify('sha384', payload, key, signature)).toBe(true);
    expect(verify('sha384', Buffer.from('{"eventType":"HsmKmsAuditDigesT"}'), key, signature)).toBe(false);
  });

  it('keeps signing after every session was closed behind its back (handles looked up again)', async () => {
    const spki = await first.auditPublicKey();
    await first.signAuditDigest(Buffer.from('before'));
    closeAllSessions(first, label);
    const signature = await first.signAuditDigest(Buffer.from('after'));
    expect(verify('sha384', Buffer.from('after'), createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature)).toBe(true);
  });
});
