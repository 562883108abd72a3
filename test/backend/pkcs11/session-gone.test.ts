/**
 * A session the module says is closed already (errors.ts, class `gone`: CKR_SESSION_HANDLE_INVALID,
 * CKR_SESSION_CLOSED, and the token-gone codes) is forgotten, never closed: an HSM that reuses
 * session numbers (CloudHSM does) may have given its number to a new session of another part of
 * this process by then, whose next call our "cleanup" would break. Other dropped sessions are
 * still closed.
 *
 * The interposer makes a call on a live session return CKR_SESSION_HANDLE_INVALID and logs every
 * session the module closes (object_log): no C_CloseSession may name that session afterwards, and
 * the backend still encrypts. (cloudhsm project only: it needs the interposer.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Handle } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { MaterialRef } from '../../../src/core/ports.js';
import { interposerControl } from '../../support/interposer.js';
import { openTestBackend } from './helpers.js';

const control = interposerControl();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-session-gone-'));
const log = join(dir, 'objects.log');
const aad = Buffer.from('ctx');
let b: Pkcs11Backend;
let key: MaterialRef;

beforeAll(async () => {
  control.set(['cloudhsm=1', `object_log=${log}`]);
  b = await openTestBackend({ poolSize: 1 });
  key = { id: 'session-gone-aes', keySpec: 'SYMMETRIC_DEFAULT', wrapped: (await b.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped };
  await roundTrip('warm');
});
afterAll(async () => {
  control.set([]);
  await b?.close();
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const logLines = () => readFileSync(log, 'utf8').split('\n').filter(Boolean);
const ownerOf = () => (b as unknown as { owner: Handle }).owner;
const number = (h: Handle) => h.readBigUInt64LE(0).toString();
const tick = (ms = 200) => new Promise((r) => setTimeout(r, ms));

async function roundTrip(text: string): Promise<void> {
  const c = await b.encryptSymmetric(key, Buffer.from(text), aad);
  expect((await b.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe(text);
}

/** Sessions closed in the log from line `from` on. */
const closedFrom = (from: number) =>
  logLines()
    .slice(from)
    .filter((l) => l.startsWith('C_CloseSession '))
    .map((l) => l.split(' ')[1]);

/** Encrypts once with `faults` set; returns the session the failed C_Encrypt was made on and the log line it starts at. */
async function encryptWithFaults(faults: string[]): Promise<{ session: string; from: number }> {
  const from = logLines().length;
  control.set(['cloudhsm=1', `object_log=${log}`, ...faults]);
  await roundTrip('through the fault');
  control.set(['cloudhsm=1', `object_log=${log}`]);
  const init = logLines()
    .slice(from)
    .find((l) => l.startsWith('C_EncryptInit '));
  expect(init, 'the Encrypt reached the module').toBeDefined();
  await tick(); // a close is made asynchronously
  return { session: init!.split(' ')[1]!, from };
}

describe('a session the module says is closed already', () => {
  it('is not closed when it still answers its test (its number may be another session now)', async () => {
    const { session, from } = await encryptWithFaults(['fault=C_Encrypt CKR_SESSION_HANDLE_INVALID count=1']);
    expect(closedFrom(from)).not.toContain(session);
    await roundTrip('after');
  });

  it('is not closed when its test fails too; the owner session, which answers, is kept', async () => {
    const owner = ownerOf();
    const { session, from } = await encryptWithFaults([
      'fault=C_Encrypt CKR_SESSION_CLOSED count=1',
      'fault=C_GetSessionInfo CKR_SESSION_HANDLE_INVALID count=1',
    ]);
    expect(closedFrom(from)).not.toContain(session);
    expect(ownerOf()).toEqual(owner);
    await roundTrip('after');
  });

  it('nor is the owner session when its own test says it is gone; it is replaced', async () => {
    const owner = ownerOf();
    const { session, from } = await encryptWithFaults([
      'fault=C_Encrypt CKR_SESSION_HANDLE_INVALID count=1',
      'fault=C_GetSessionInfo CKR_SESSION_HANDLE_INVALID count=2',
    ]);
    expect(ownerOf()).not.toEqual(owner);
    expect(closedFrom(from)).not.toContain(session);
    expect(closedFrom(from)).not.toContain(number(owner));
    await roundTrip('after');
  });

  it('when the token went (its test says CKR_DEVICE_REMOVED), no session of it is closed: idle ones and the owner are forgotten', async () => {
    const wide = await openTestBackend({ poolSize: 2 });
    try {
      const both = () => Promise.all([1, 2].map((i) => wide.encryptSymmetric(key, Buffer.from(`both ${i}`), aad)));
      let from = logLines().length;
      await both(); // two pool sessions open, both idle afterwards
      const pooled = new Set(logLines().slice(from).filter((l) => l.startsWith('C_EncryptInit ')).map((l) => l.split(' ')[1]!));
      expect(pooled.size).toBe(2);
      const owner = (wide as unknown as { owner: Handle }).owner;
      from = logLines().length;
      control.set(['cloudhsm=1', `object_log=${log}`, 'fault=C_Encrypt CKR_DEVICE_REMOVED count=1', 'fault=C_GetSessionInfo CKR_DEVICE_REMOVED count=1']);
      const c = await wide.encryptSymmetric(key, Buffer.from('removed'), aad);
      control.set(['cloudhsm=1', `object_log=${log}`]);
      await tick();
      expect((wide as unknown as { owner: Handle }).owner).not.toEqual(owner);
      const closed = closedFrom(from);
      for (const s of pooled) expect(closed).not.toContain(s);
      expect(closed).not.toContain(number(owner));
      expect((await wide.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe('removed');
    } finally {
      await wide.close();
    }
  });

  it('an owner session whose test (the health check) says it is gone is replaced, not closed', async () => {
    const owner = ownerOf();
    const from = logLines().length;
    control.set(['cloudhsm=1', `object_log=${log}`, 'fault=C_GetSessionInfo CKR_SESSION_HANDLE_INVALID count=1']);
    expect(await b.health()).toMatchObject({ ok: true });
    control.set(['cloudhsm=1', `object_log=${log}`]);
    await tick();
    expect(ownerOf()).not.toEqual(owner);
    expect(closedFrom(from)).not.toContain(number(owner));
    await roundTrip('after');
  });

  it('other dropped sessions are still closed (a device error its test survives)', async () => {
    const { session, from } = await encryptWithFaults(['fault=C_Encrypt CKR_DEVICE_ERROR count=1']);
    expect(closedFrom(from)).toContain(session);
    await roundTrip('after');
  });
});
