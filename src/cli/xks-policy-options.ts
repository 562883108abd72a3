/**
 * `serve --xks-policy PREFIX=FILE` (repeatable; env HSMKMS_XKS_POLICIES, comma-separated): the XKS
 * proxy's secondary authorization, one IAM-style policy document (JSON, as for a key policy) per
 * URI prefix — see src/xks/policy.ts. `=FILE` is the policy of the empty prefix.
 */
import { ConfigError } from '../config/hsm.js';
import { KmsError } from '../core/errors.js';
import { normaliseUriPrefix } from '../xks/credentials.js';
import { readPolicyFile } from './policy-file.js';

/** A key policy's own limit (AWS KMS: 32 KiB). */
const MAX_POLICY_BYTES = 32 * 1024;

/** URI prefix → policy text, from `PREFIX=FILE` specs; a bad spec or file is a ConfigError. */
export function readXksPolicies(specs: readonly string[], fromEnv: string | undefined): Map<string, string> | undefined {
  const all = [...specs, ...(fromEnv ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')];
  if (all.length === 0) return undefined;
  const policies = new Map<string, string>();
  for (const spec of all) {
    const eq = spec.indexOf('=');
    if (eq < 0 || eq === spec.length - 1) throw new ConfigError(`--xks-policy takes PREFIX=FILE (the policy document of URI prefix PREFIX), got '${spec.slice(0, 200)}'.`);
    let prefix: string;
    try {
      prefix = normaliseUriPrefix(spec.slice(0, eq));
    } catch (error) {
      throw new ConfigError(`--xks-policy ${spec.slice(0, 200)}: ${error instanceof KmsError ? error.message : String(error)}`);
    }
    if (policies.has(prefix)) throw new ConfigError(`--xks-policy: URI prefix '${prefix}' is given twice.`);
    const file = spec.slice(eq + 1);
    policies.set(prefix, readPolicyFile(file, `--xks-policy ${prefix}=${file}`, MAX_POLICY_BYTES));
  }
  return policies;
}
