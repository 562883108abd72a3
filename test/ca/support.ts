/**
 * Shared pieces of the CA tests: the test token's CLI options, CSRs made by openssl, PEM
 * splitting, and the outside checkers — openssl, zlint and GnuTLS certtool — installed through
 * the test packages table (ci/test-deps.mjs) when missing.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureTestPackages } from '../../ci/test-deps.mjs';
import { ZLINT_PATH } from '../../ci/test-deps/zlint.mjs';

export const run = promisify(execFile);

export type LeafKey = 'ec-p256' | 'ec-p384' | 'rsa-2048';

/** A key and CSR made by openssl; returns the CSR's path. `sans` like `DNS:a.example.com`. */
export async function opensslCsr(dir: string, name: string, key: LeafKey, subject: string, sans: string[] = []): Promise<string> {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const newkey =
    key === 'rsa-2048' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${key === 'ec-p256' ? 'P-256' : 'P-384'}`];
  const args = ['req', '-new', ...newkey, '-nodes', '-keyout', keyFile, '-subj', subject, '-out', csrFile];
  if (sans.length > 0) args.push('-addext', `subjectAltName=${sans.join(',')}`);
  await run('openssl', args);
  return csrFile;
}

/** The PEM blocks of a file's text, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

export function writePem(dir: string, name: string, pem: string): string {
  const file = join(dir, name);
  writeFileSync(file, pem.endsWith('\n') ? pem : `${pem}\n`);
  return file;
}

/**
 * Lints a private CA cannot meet, by name, each with its reason. Everything else zlint reports
 * as an error (or fatal) fails the test.
 */
export const EXCLUDED_LINTS: Record<string, string> = {
  // CA/Browser Forum: subscriber and subordinate CA certificates must assert a CA/B reserved
  // policy OID. A private CA makes no Baseline Requirements claim, so it asserts none.
  e_sub_cert_certificate_policies_missing: 'Web PKI policy OIDs; a private CA asserts none',
  e_sub_ca_certificate_policies_missing: 'Web PKI policy OIDs; a private CA asserts none',
  e_sub_cert_cert_policy_empty: 'Web PKI policy OIDs; a private CA asserts none',
};

let tools: { zlint: string; certtool: string } | undefined;

/** zlint and certtool, installed on first use (once per test process) by the test packages table. */
export function caTools(): { zlint: string; certtool: string } {
  if (!tools) {
    ensureTestPackages(['gnutls-bin', 'zlint'], 'the CA tests');
    tools = { zlint: ZLINT_PATH, certtool: 'certtool' };
  }
  return tools;
}

/** zlint's errors and fatals for one PEM certificate, minus {@link EXCLUDED_LINTS}. */
export async function zlintErrors(file: string): Promise<string[]> {
  const { stdout } = await run(caTools().zlint, ['-excludeNames', Object.keys(EXCLUDED_LINTS).join(','), file], { maxBuffer: 16 * 1024 * 1024 });
  const results = JSON.parse(stdout) as Record<string, { result: string; details?: string }>;
  return Object.entries(results)
    .filter(([, r]) => r.result === 'error' || r.result === 'fatal')
    .map(([name, r]) => `${name}${r.details ? `: ${r.details}` : ''}`);
}

/** GnuTLS's chain verification of `chainFile` (leaf first) against `rootFile`; returns its output. */
export async function certtoolVerify(rootFile: string, chainFile: string, purposeOid?: string): Promise<string> {
  const args = ['--verify', '--load-ca-certificate', rootFile, '--infile', chainFile];
  if (purposeOid) args.push(`--verify-purpose=${purposeOid}`);
  const { stdout, stderr } = await run(caTools().certtool, args);
  return stdout + stderr;
}
