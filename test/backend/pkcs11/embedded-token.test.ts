/**
 * The embedded development token. This file must not touch the run's shared token: SoftHSM2
 * reads SOFTHSM2_CONF once per process, and ensureEmbeddedToken points it at the data directory.
 * (Each vitest test file runs in its own process.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureEmbeddedToken, EMBEDDED_TOKEN_LABEL, SOFTHSM2_MODULE } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { ConfigError } from '../../../src/config/hsm.js';

const dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-embedded-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('ensureEmbeddedToken', () => {
  it('creates the token on first start, with PIN files only the owner can read', async () => {
    const progress: string[] = [];
    const config = await ensureEmbeddedToken(dataDir, (m) => progress.push(m));
    expect(process.env.SOFTHSM2_CONF).toBe(join(dataDir, 'softhsm2.conf'));
    expect(readFileSync(join(dataDir, 'softhsm2.conf'), 'utf8')).toContain(`directories.tokendir = ${join(dataDir, 'tokens')}`);
    expect(config).toMatchObject({
      modulePath: SOFTHSM2_MODULE,
      token: { label: EMBEDDED_TOKEN_LABEL },
      pin: { file: join(dataDir, 'user.pin') },
      soPin: { file: join(dataDir, 'so.pin') },
      profile: 'softhsm2',
    });
    for (const f of ['user.pin', 'so.pin']) {
      expect(statSync(join(dataDir, f)).mode & 0o777).toBe(0o600);
      const pin = readFileSync(join(dataDir, f), 'utf8');
      expect(pin).toMatch(/^[0-9a-f]{32}$/);
      for (const message of progress) expect(message).not.toContain(pin);
    }
    expect(progress.some((m) => m.includes('Initialising'))).toBe(true);

    const backend = await openPkcs11Backend(config);
    const sealed = await backend.sealSecret(Buffer.from('dev secret'));
    expect((await backend.unsealSecret(sealed)).toString()).toBe('dev secret');
    await backend.close();

    // Another process (pkcs11-tool) sees the token through the generated configuration.
    const slots = execFileSync('pkcs11-tool', ['--module', SOFTHSM2_MODULE, '--list-token-slots'], { env: process.env, encoding: 'utf8' });
    expect(slots).toContain(`token label        : ${EMBEDDED_TOKEN_LABEL}`);
  });

  it('reuses the token and its PINs on the next start', async () => {
    const pin = readFileSync(join(dataDir, 'user.pin'), 'utf8');
    const progress: string[] = [];
    const config = await ensureEmbeddedToken(dataDir, (m) => progress.push(m));
    expect(progress).toEqual([]);
    expect(readFileSync(join(dataDir, 'user.pin'), 'utf8')).toBe(pin);
    const backend = await openPkcs11Backend(config);
    expect(await backend.health()).toMatchObject({ ok: true });
    await backend.close();
    expect(existsSync(join(dataDir, 'tokens'))).toBe(true);
  });

  it('without SoftHSM2 installed: says what to install (or which option to use instead) and writes nothing', async () => {
    const empty = join(dataDir, 'not-created');
    const missing = join(dataDir, 'no-softhsm', 'libsofthsm2.so');
    const error = await ensureEmbeddedToken(empty, () => {}, missing).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`SoftHSM2 is not installed (${missing} is missing)`);
    expect((error as Error).message).toContain('sudo apt-get install softhsm2');
    expect((error as Error).message).toContain('--module or --hsm');
    expect(existsSync(empty)).toBe(false);
  });

  it('tells the user when the token exists but the PIN file is gone', async () => {
    rmSync(join(dataDir, 'user.pin'));
    await expect(ensureEmbeddedToken(dataDir)).rejects.toThrow(/PIN file/);
  });
});
