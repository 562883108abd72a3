/** readPolicyFile, the one reader of the CLI's policy files: bounded, and errors that name the option. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_POLICY_FILE_BYTES, readPolicyFile } from '../../src/cli/policy-file.js';
import { ConfigError } from '../../src/config/hsm.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-policy-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readPolicyFile', () => {
  it('returns the text of a file within the limit', () => {
    const file = join(dir, 'p.json');
    writeFileSync(file, '{"Statement":[]}');
    expect(readPolicyFile(file)).toBe('{"Statement":[]}');
    writeFileSync(file, 'x'.repeat(MAX_POLICY_FILE_BYTES));
    expect(readPolicyFile(file)).toHaveLength(MAX_POLICY_FILE_BYTES);
  });

  it('refuses a missing or oversized file with a ConfigError naming the option', () => {
    const missing = join(dir, 'missing.json');
    expect(() => readPolicyFile(missing)).toThrow(new ConfigError(`--policy-file ${missing}: the policy file cannot be read (ENOENT).`));
    const big = join(dir, 'big.json');
    writeFileSync(big, 'x'.repeat(MAX_POLICY_FILE_BYTES + 1));
    expect(() => readPolicyFile(big)).toThrow(new ConfigError(`--policy-file ${big}: a policy file is at most ${MAX_POLICY_FILE_BYTES} bytes, this one has ${MAX_POLICY_FILE_BYTES + 1}.`));
    writeFileSync(big, 'x'.repeat(101));
    expect(() => readPolicyFile(big, '--xks-policy a=big.json', 100)).toThrow(/^--xks-policy a=big\.json: a policy file is at most 100 bytes, this one has 101\.$/);
  });
});
