/**
 * The addon with a token that lies and with keys loaded over and over:
 * - a signature longer than the key allows (the token reports more bytes than a signature has)
 *   is refused with ERR_SIGNATURE_SIZE in every path — describe-and-sign from JavaScript and the
 *   ENGINE's handshake signatures — and never copied into OpenSSL's buffer;
 * - describing a key makes no session working copy, and the copy a loaded TLS context signs with
 *   is destroyed with the context: the token's session objects do not grow with use;
 * - a token whose manufacturer is not SoftHSM2's gets no copies: the stored key signs.
 * The token sits behind the PKCS#11 interposer (test/pkcs11-interposer), which does the lying.
 */
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HsmConfig } from '../../src/config/hsm.js';
import { createHsmHttpsServer, createHsmSecureContext, generateTlsKey, hsmTlsStats } from '../../src/tls/index.js';
import { loadAddon } from '../../src/native/addon.js';
import { sessionObjects } from '../support/session-objects.js';
import { interposerControl } from '../support/interposer.js';
import { closeTokenSessions, createTestCa, interposedTestHsm, listen, run, tokenSlot, uniqueLabel } from '../tls/support.js';

const control = interposerControl();
const hsm: HsmConfig = interposedTestHsm('generic');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-addon-'));
const caFile = join(dir, 'ca.pem');
let rsa: { keyUri: string; cert: string };
let ec: { keyUri: string; cert: string };

beforeAll(async () => {
  const ca = await createTestCa();
  writeFileSync(caFile, ca.pem);
  const rsaKey = generateTlsKey(hsm, uniqueLabel('addon-rsa'), 'RSA_2048');
  const ecKey = generateTlsKey(hsm, uniqueLabel('addon-ec'), 'ECC_NIST_P256');
  rsa = { keyUri: rsaKey.keyUri, cert: await ca.issue(rsaKey.spki, ['localhost']) };
  ec = { keyUri: ecKey.keyUri, cert: await ca.issue(ecKey.spki, ['localhost']) };
});
afterAll(() => {
  control.set([]);
  control.dispose();
});

const digest = createHash('sha256').update('m').digest();

describe('signature lengths', () => {
  it('refuses an RSA or ECDSA signature longer than the key allows', () => {
    const addon = loadAddon();
    expect(addon.signDigest(rsa.keyUri, 'sha256', digest)).toHaveLength(256);
    expect(addon.signDigest(ec.keyUri, 'sha256', digest)).toHaveLength(64);
    control.set(['oversize_signatures=1']);
    for (const uri of [rsa.keyUri, ec.keyUri]) expect(() => addon.signDigest(uri, 'sha256', digest)).toThrow(expect.objectContaining({ code: 'ERR_SIGNATURE_SIZE' }));
    control.set(['oversize_signatures=64']);
    for (const uri of [rsa.keyUri, ec.keyUri]) expect(() => addon.signDigest(uri, 'sha256', digest)).toThrow(expect.objectContaining({ code: 'ERR_SIGNATURE_SIZE' }));
    control.set([]);
    expect(addon.signDigest(rsa.keyUri, 'sha256', digest)).toHaveLength(256);
  });

  it('fails a handshake whose signature is oversized, and serves the next one', async () => {
    const server = createHsmHttpsServer({ hsm, certificates: [rsa, ec].map(({ keyUri, cert }) => ({ keyUri, cert })), sessionResumption: false }, (_req, res) => res.end('ok'));
    const port = await listen(server);
    const errors: string[] = [];
    server.on('tlsClientError', (e: Error) => errors.push(e.message));
    const curl = (extra: string[]) => run('curl', ['-sS', '--cacert', caFile, ...extra, `https://localhost:${port}/`]).then(
      (r) => r.stdout,
      (e: { stderr?: string }) => `failed: ${e.stderr ?? ''}`,
    );
    try {
      for (const tls of [['--tls-max', '1.2'], []]) {
        control.set(['oversize_signatures=1']);
        expect(await curl(tls)).toMatch(/^failed/);
        control.set([]);
        expect(await curl(tls)).toBe('ok');
      }
      expect(errors.join('\n')).toMatch(/./);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('session working copies', () => {
  /** Private-key session objects this process has in the token, by handle. */
  async function workingCopies(): Promise<string[]> {
    const { module: m, slot } = tokenSlot(hsm);
    const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      return (await sessionObjects(m, s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }])).map((h) => h.toString('hex'));
    } finally {
      m.C_CloseSession(s);
    }
  }
  /** The working copies made since `before`; copies an earlier test's TLS contexts still hold may go meanwhile, whenever those are collected. */
  async function copiesSince(before: string[]): Promise<string[]> {
    return (await workingCopies()).filter((h) => !before.includes(h));
  }

  it('are not made to describe a key or to sign once', async () => {
    const addon = loadAddon();
    const before = await workingCopies();
    for (let i = 0; i < 30; i++) {
      addon.describeKey(rsa.keyUri);
      addon.describeKey(ec.keyUri);
      addon.signDigest(ec.keyUri, 'sha256', digest);
    }
    expect(await copiesSince(before)).toEqual([]);
  });

  it('live as long as the TLS context that loaded the key', async () => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const before = await workingCopies();
    let contexts: unknown[] = Array.from({ length: 20 }, (_, i) => createHsmSecureContext({ hsm, ...(i % 2 ? rsa : ec) }));
    const made = await copiesSince(before);
    expect(made).toHaveLength(20);
    contexts = [];
    void contexts;
    const left = async () => (await workingCopies()).filter((h) => made.includes(h));
    for (let i = 0; i < 50 && (await left()).length > 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await left()).toEqual([]);
  });

  it('follow the stored key: one no longer allowed to sign, or deleted from the token, stops signing within a second', async () => {
    const ca = await createTestCa();
    const caPath = join(dir, 'follow-ca.pem');
    writeFileSync(caPath, ca.pem);
    const key = generateTlsKey(hsm, uniqueLabel('addon-follow'), 'ECC_NIST_P256');
    const certificate = { keyUri: key.keyUri, cert: await ca.issue(key.spki, ['localhost']) };
    const copies = hsmTlsStats().sessionCopies;
    const server = createHsmHttpsServer({ hsm, certificates: [certificate], sessionResumption: false }, (_req, res) => res.end('ok'));
    const { module, slot } = tokenSlot(hsm);
    const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      const port = await listen(server);
      const get = () => run('curl', ['-sS', '--max-time', '10', '--cacert', caPath, `https://localhost:${port}/`]).then(({ stdout }) => stdout, () => 'refused');
      expect(await get()).toBe('ok');
      expect(hsmTlsStats().sessionCopies).toBeGreaterThan(copies); // signed through a working copy
      module.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_LABEL, value: key.keyUri.match(/object=([^;]+)/)![1]! },
      ]);
      const [stored] = module.C_FindObjects(session, 2);
      module.C_FindObjectsFinal(session);
      // The operator takes the key's right to sign away: the copy made before must not keep it.
      module.C_SetAttributeValue(session, stored!, [{ type: pkcs11js.CKA_SIGN, value: false }]);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await get()).toBe('refused');
      module.C_SetAttributeValue(session, stored!, [{ type: pkcs11js.CKA_SIGN, value: true }]);
      expect(await get()).toBe('ok');
      // Deleted from the token: no more signatures either.
      module.C_DestroyObject(session, stored!);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await get()).toBe('refused');
    } finally {
      module.C_CloseSession(session);
      await new Promise((r) => server.close(r));
    }
  });

  it('are not made on a token from another manufacturer: the stored key signs', async () => {
    control.set(['token_manufacturer=Example HSM Vendor']);
    const server = createHsmHttpsServer({ hsm, certificates: [ec], sessionResumption: false }, (_req, res) => res.end('ok'));
    try {
      // The addon reads the manufacturer when it connects: drop its session so that it reconnects.
      closeTokenSessions(hsm);
      const before = hsmTlsStats();
      const copies = await workingCopies();
      const context = createHsmSecureContext({ hsm, ...ec });
      const port = await listen(server);
      const { stdout } = await run('curl', ['-sS', '--cacert', caFile, `https://localhost:${port}/`]);
      expect(stdout).toBe('ok');
      const after = hsmTlsStats();
      expect(after.reconnects).toBeGreaterThan(before.reconnects);
      expect(after.signs).toBe(before.signs + 1);
      expect(after.sessionCopies).toBe(before.sessionCopies);
      expect(after.copyRefusals).toBe(before.copyRefusals);
      expect(await copiesSince(copies)).toEqual([]);
      void context;
    } finally {
      await new Promise((r) => server.close(r));
      control.set([]);
      closeTokenSessions(hsm);
    }
  });
});
