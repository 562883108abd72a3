/**
 * TokenKeyring.list() (`hsmkms xks key list`) over a token other processes write to. SoftHSM2
 * writes a new token object's file attribute by attribute, so a process that lists while another
 * creates a key may find an object whose attributes are not all there yet
 * (CKR_ATTRIBUTE_TYPE_INVALID), or one that vanishes before it is read (CKR_OBJECT_HANDLE_INVALID);
 * see test/support/session-objects.ts. Such an object is left out; a failing session or device
 * still fails the listing. The PKCS#11 interposer makes the reads fail (cloudhsm project only): the
 * race itself cannot be timed from a test.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPin } from '../../../src/config/hsm.js';
import { TokenKeyring } from '../../../src/backend/pkcs11/token-keyring.js';
import { interposerControl } from '../../support/interposer.js';
import { testHsmConfig } from '../../support/hsm.js';
import { RecordingLogger } from './helpers.js';

const control = interposerControl();
const log = new RecordingLogger();
const labels = Array.from({ length: 3 }, (_, i) => `list-${randomBytes(4).toString('hex')}-${i}`);
let keyring: TokenKeyring;

beforeAll(async () => {
  const hsm = testHsmConfig();
  keyring = await TokenKeyring.open({ ...hsm, pin: async () => readPin(hsm.pin), logger: log });
  for (const label of labels) await keyring.generateAesKey(label, { encrypt: true, decrypt: true });
});
afterAll(async () => {
  control.set([]);
  if (keyring) {
    for (const label of labels) await keyring.destroy({ label });
    await keyring.close();
  }
  control.dispose();
});

const listed = async () => (await keyring.list()).map((k) => k.label);

describe('listing the keys of a token', () => {
  it('lists every key when nothing fails', async () => {
    expect(await listed()).toEqual(expect.arrayContaining(labels));
  });

  for (const [code, hex] of [
    ['CKR_ATTRIBUTE_TYPE_INVALID', '0x12'],
    ['CKR_OBJECT_HANDLE_INVALID', '0x82'],
  ] as const) {
    it(`leaves out an object whose attributes read as ${code}, and lists the others`, async () => {
      const before = await listed();
      // The first object read fails once, the next reads succeed.
      control.set([`fault=C_GetAttributeValue ${hex} count=1`]);
      const during = await listed();
      control.set([]);
      expect(during).toHaveLength(before.length - 1);
      expect(before.filter((l) => !during.includes(l))).toHaveLength(1);
      // Every object unreadable: an empty listing, not a failure.
      control.set([`fault=C_GetAttributeValue ${hex} count=-1`]);
      expect(await listed()).toEqual([]);
      control.set([]);
      expect(log.records.some((r) => r.level === 'warn' && JSON.stringify(r.obj).includes(code))).toBe(true);
      expect(await listed()).toEqual(expect.arrayContaining(labels));
    });
  }

  it('still fails when the session or the device fails', async () => {
    for (const fault of [
      'fault=C_GetAttributeValue CKR_DEVICE_ERROR count=-1',
      'fault=C_GetAttributeValue CKR_SESSION_HANDLE_INVALID count=-1',
      // An unreadable object on a session that fails its test: the session's failure, not the object's.
      ['fault=C_GetAttributeValue 0x12 count=-1', 'fault=C_GetSessionInfo CKR_DEVICE_ERROR count=-1'],
    ]) {
      control.set(Array.isArray(fault) ? fault : [fault]);
      await expect(keyring.list(), String(fault)).rejects.toMatchObject({ name: 'HsmError' });
      control.set([]);
    }
    expect(await listed()).toEqual(expect.arrayContaining(labels));
  });
});
