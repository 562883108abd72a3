/**
 * Nodes sharing a token may race on their first start and each make a seal key (token-keys.ts:
 * new secrets then use the smallest CKA_ID). A process that loaded its seal keys before another
 * one's appeared must still unseal what that process sealed: it looks the keys up again.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend, type Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { env } from './helpers.js';

const label = `sealrace-${randomBytes(4).toString('hex')}`;
// Throwaway PINs for a throwaway test token: on pkcs11-tool's argv in tests only.
const userPin = randomBytes(8).toString('hex');
const soPin = randomBytes(8).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-sealrace-'));
const backends: Pkcs11Backend[] = [];

async function open(): Promise<Pkcs11Backend> {
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, userPin, { mode: 0o600 });
  const backend = await openPkcs11Backend({ modulePath: env('HSMKMS_TEST_MODULE'), token: { label }, pin: { file: pinFile }, profile: 'softhsm2' });
  backends.push(backend);
  return backend;
}

beforeAll(async () => {
  await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin, userPin });
});
afterAll(async () => {
  for (const b of backends) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

it('unseals a secret sealed with a seal key another process made after this one started', async () => {
  const first = await open();
  // The racing process's key: same label, a smaller CKA_ID, so processes that see both use it.
  execFileSync(
    'pkcs11-tool',
    ['--module', env('HSMKMS_TEST_MODULE'), '--token-label', label, '--login', '--pin', userPin, '--keygen', '--key-type', 'AES:32', '--label', 'hsmkms-seal-key', '--id', '00'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const second = await open();
  const sealed = await second.sealSecret(Buffer.from('shared secret'));
  expect((await first.unsealSecret(sealed)).toString()).toBe('shared secret');
});
