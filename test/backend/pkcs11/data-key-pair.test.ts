import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { loopTurnsDuring } from '../../support/event-loop.js';
import { openTestBackend } from './helpers.js';

describe('data key pairs', () => {
  let backend: Pkcs11Backend;
  beforeAll(async () => {
    backend = await openTestBackend();
  });
  afterAll(() => backend.close());

  it('generates an RSA-4096 pair off the event loop: the loop keeps turning meanwhile', async () => {
    const { result: pair, turns } = await loopTurnsDuring(() => backend.generateDataKeyPair('RSA_4096'));
    // Generated on the event loop, not a single setImmediate callback could run before it ended.
    expect(turns).toBeGreaterThan(10);
    const privateKey = createPrivateKey({ key: pair.privateKey, format: 'der', type: 'pkcs8' });
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(4096);
    const signature = sign('sha256', Buffer.from('m'), privateKey);
    expect(verify('sha256', Buffer.from('m'), createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' }), signature)).toBe(true);
  });

  it('generates EC pairs on their curve', async () => {
    const pair = await backend.generateDataKeyPair('ECC_NIST_P384');
    expect(createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });
});
