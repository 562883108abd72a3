/**
 * `hsmkms tls keygen`: the key is made in the token and the CSR, signed there, verifies with
 * openssl and carries the subject and subjectAltNames asked for. `--help` documents each command.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tlsCommand } from '../../src/cli/tls.js';
import { run, testHsm, uniqueLabel } from './support.js';

const hsm = testHsm();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-cli-'));
const hsmArgs = ['--module', hsm.modulePath, '--token-label', hsm.token.label!, '--pin-file', (hsm.pin as { file: string }).file];

async function keygen(spec: string, extra: string[]): Promise<{ csr: string; uri: string }> {
  const csr = join(dir, `${spec}.csr`);
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await tlsCommand().parseAsync(['keygen', ...hsmArgs, '--label', uniqueLabel(`cli-${spec}`), '--spec', spec, '--csr', csr, ...extra], { from: 'user' });
    return { csr, uri: String(write.mock.calls[0]?.[0]).trim() };
  } finally {
    write.mockRestore();
  }
}

describe('hsmkms tls keygen', () => {
  it.each([
    ['ECC_NIST_P384', /ASN1 OID: secp384r1/, /ecdsa-with-SHA384/],
    ['RSA_2048', /Public-Key: \(2048 bit\)/, /sha256WithRSAEncryption/],
  ])('writes a CSR for a new %s key, signed in the token', async (spec, keyLine, sigLine) => {
    const { csr, uri } = await keygen(spec, ['--subject', 'CN=www.example.test, O=Example', '--san', 'DNS:www.example.test', '--san', 'IP:127.0.0.1']);
    expect(uri).toMatch(/^pkcs11:token=hsmkms-test;object=cli-.*;id=(%[0-9a-f]{2}){16};type=private$/);
    expect(readFileSync(csr, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const { stdout, stderr } = await run('openssl', ['req', '-in', csr, '-noout', '-verify', '-text']);
    expect(stdout + stderr).toMatch(/verify OK/);
    expect(stdout).toMatch(/Subject: CN ?= ?www\.example\.test, O ?= ?Example/);
    expect(stdout).toMatch(/DNS:www\.example\.test, IP Address:127\.0\.0\.1/);
    expect(stdout).toMatch(keyLine);
    expect(stdout).toMatch(sigLine);
  });

  it('documents its options in --help', () => {
    for (const [name, option] of [
      ['keygen', '--spec <spec>'],
      ['proxy', '--upstream <url>'],
    ] as const) {
      const help = tlsCommand().commands.find((c) => c.name() === name)!.helpInformation();
      expect(help).toContain(option);
      expect(help).toContain('--data-dir');
      expect(help).toContain('--pin-file');
    }
    const proxyHelp = tlsCommand().commands.find((c) => c.name() === 'proxy')!.helpInformation();
    for (const option of ['--handshake-timeout', '--headers-timeout', '--request-timeout', '--idle-timeout', '--keep-alive-timeout', '--upstream-timeout'])
      expect(proxyHelp).toContain(`${option} <seconds>`);
  });

  it('refuses proxy timeouts that make no sense before touching the HSM', async () => {
    const proxy = (extra: string[]) =>
      tlsCommand().parseAsync(['proxy', ...hsmArgs, '--key-uri', 'pkcs11:object=none', '--cert', join(dir, 'none.pem'), '--listen', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:1', ...extra], {
        from: 'user',
      });
    await expect(proxy(['--headers-timeout', '0'])).rejects.toThrow(/--headers-timeout must be a number of seconds/);
    await expect(proxy(['--headers-timeout', '60', '--request-timeout', '30'])).rejects.toThrow(/headers timeout \(60000 ms\) must not exceed the request timeout/);
    await expect(proxy(['--upstream-timeout', 'soon'])).rejects.toThrow(/--upstream-timeout/);
  });
});
