/** The GrantToken format: round trip, a fresh token per call, and refusal of anything altered or foreign. */
import { describe, expect, it } from 'vitest';
import { BackendError, KmsError } from '../../../src/core/errors.js';
import { GRANT_TOKEN_VERSION, grantTokenEnvelope, readGrantToken, writeGrantToken } from '../../../src/core/grants/grant-token.js';
import { testBackend } from '../../support/kms-deps.js';

const claims = { grantId: 'ab'.repeat(32), keyId: '1234abcd-12ab-34cd-56ef-1234567890ab' };

async function expectInvalid(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toMatchObject({ type: 'InvalidGrantTokenException', message: 'The grant token is not valid.' });
}

describe('grant token envelope', () => {
  it('refuses text outside base64url, wrong versions, and sizes outside 4–8192 characters', () => {
    const good = Buffer.from([GRANT_TOKEN_VERSION, 1, 2, 3]).toString('base64url');
    expect(grantTokenEnvelope(good)).toEqual(Buffer.from([1, 2, 3]));
    for (const bad of ['', 'abc', 'AQID+A==', 'AQID/AB', 'AQID AB', `${good}=`, 'AgEC', Buffer.from([0, 1, 2]).toString('base64url'), 'A'.repeat(8193), 'é'.repeat(8)]) {
      expect(() => grantTokenEnvelope(bad), bad.slice(0, 20)).toThrow(KmsError);
    }
  });
});

describe('grant token sealed by the HSM', () => {
  it('round-trips its claims; each token differs, none shows the ids in clear', async () => {
    const backend = await testBackend();
    const a = await writeGrantToken(backend, claims);
    const b = await writeGrantToken(backend, claims);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(a, 'base64url')[0]).toBe(GRANT_TOKEN_VERSION);
    expect(Buffer.from(a, 'base64url').includes(Buffer.from(claims.keyId))).toBe(false);
    await expect(readGrantToken(backend, a)).resolves.toEqual(claims);
    await expect(readGrantToken(backend, b)).resolves.toEqual(claims);
  });

  it('refuses every altered character, truncation, extension and garbage with InvalidGrantTokenException', async () => {
    const backend = await testBackend();
    const token = await writeGrantToken(backend, claims);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < token.length; i++) {
      const replaced = alphabet[(alphabet.indexOf(token[i]!) + 1) % alphabet.length]!;
      const altered = token.slice(0, i) + replaced + token.slice(i + 1);
      // The last character may carry unused bits: a change there can decode to the same bytes.
      if (Buffer.from(altered, 'base64url').equals(Buffer.from(token, 'base64url'))) continue;
      await expectInvalid(readGrantToken(backend, altered));
    }
    await expectInvalid(readGrantToken(backend, token.slice(0, -4)));
    await expectInvalid(readGrantToken(backend, `${token}AAAA`));
    await expectInvalid(readGrantToken(backend, Buffer.concat([Buffer.from([GRANT_TOKEN_VERSION]), Buffer.alloc(80, 0x5a)]).toString('base64url')));
    await expectInvalid(readGrantToken(backend, 'garbage'));
  });

  it('lets HSM faults other than bad data through', async () => {
    const failing = {
      unsealSecret: async () => {
        throw new BackendError('unavailable', 'C_Decrypt failed: CKR_DEVICE_ERROR');
      },
    };
    await expect(readGrantToken(failing, Buffer.from([GRANT_TOKEN_VERSION, 1, 2, 3]).toString('base64url'))).rejects.toBeInstanceOf(BackendError);
  });
});
