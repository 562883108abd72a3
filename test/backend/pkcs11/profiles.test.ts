import { describe, expect, it } from 'vitest';
import { detectProfile } from '../../../src/backend/pkcs11/profiles.js';
import { hsmConfigFromUri } from '../../../src/backend/pkcs11/uri.js';
import { resolveHsmConfig } from '../../../src/cli/hsm-options.js';

describe('profile detection', () => {
  it('names the profile from the module file', () => {
    expect(detectProfile('/usr/lib/softhsm/libsofthsm2.so')).toBe('softhsm2');
    expect(detectProfile('/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so')).toBe('softhsm2');
    expect(detectProfile('/opt/cloudhsm/lib/libcloudhsm_pkcs11.so')).toBe('cloudhsm');
    expect(detectProfile('/usr/lib/libCryptoki2_64.so')).toBe('generic');
    // The directory does not decide: a test module under a softhsm directory is not SoftHSM2.
    expect(detectProfile('/tmp/softhsm-tests/libinterposer.so')).toBe('generic');
  });

  it('is the same for --module and for a pkcs11: URI (the documented production-style start)', async () => {
    const cli = await resolveHsmConfig({ dataDir: '/nonexistent', module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 't', pinEnv: 'PIN' });
    expect(cli.profile).toBe('softhsm2');
    const uri = hsmConfigFromUri('pkcs11:token=t?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:PIN');
    expect(uri.profile).toBe('softhsm2');
    for (const module of ['/opt/cloudhsm/lib/libcloudhsm_pkcs11.so', '/usr/lib/libCryptoki2_64.so']) {
      const fromCli = await resolveHsmConfig({ dataDir: '/nonexistent', module, tokenLabel: 't', pinEnv: 'PIN' });
      expect(fromCli.profile).toBe(hsmConfigFromUri(`pkcs11:token=t?module-path=${module}&pin-source=env:PIN`).profile);
    }
  });

  it('reads the whole HSM configuration from --hsm pkcs11:…', async () => {
    expect(await resolveHsmConfig({ dataDir: '/x', hsm: 'pkcs11:token=kms?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsmkms/pin' })).toEqual({
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
      token: { label: 'kms', serial: undefined },
      pin: { file: '/etc/hsmkms/pin' },
      profile: 'softhsm2',
    });
    const withPin = await resolveHsmConfig({ dataDir: '/x', hsm: 'pkcs11:serial=42?module-path=/opt/cloudhsm/lib/libcloudhsm_pkcs11.so', pinEnv: 'CU_PIN' });
    expect(withPin).toMatchObject({ token: { serial: '42' }, pin: { env: 'CU_PIN' }, profile: 'cloudhsm' });
    await expect(resolveHsmConfig({ dataDir: '/x', hsm: 'pkcs11:token=t?module-path=/m.so', module: '/m.so' })).rejects.toThrow(/not both/);
    await expect(resolveHsmConfig({ dataDir: '/x', hsm: 'pkcs11:token=t?module-path=/m.so' })).rejects.toThrow(/PIN/);
  });

  it('lets an explicit --profile win', async () => {
    const cli = await resolveHsmConfig({ dataDir: '/x', module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 't', pinEnv: 'PIN', profile: 'generic' });
    expect(cli.profile).toBe('generic');
  });

  it('takes --pool-size (the session pool) as a whole number from 1 to 256, and names the flag when it is not', async () => {
    const base = { dataDir: '/x', module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 't', pinEnv: 'PIN' };
    expect((await resolveHsmConfig({ ...base, poolSize: '32' })).poolSize).toBe(32);
    expect(await resolveHsmConfig(base)).not.toHaveProperty('poolSize');
    for (const bad of ['0', '-1', '2.5', 'lots', '257'])
      await expect(resolveHsmConfig({ ...base, poolSize: bad })).rejects.toThrow(/--pool-size/);
  });
});
