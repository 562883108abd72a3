/**
 * Policy documents the CLI reads from files (`key put-policy` and `principal put-policy`
 * `--policy-file`, `serve --xks-policy PREFIX=FILE`): a file over its limit is refused before it
 * is read whole, and errors name the option as the operator wrote it.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../config/hsm.js';

/**
 * A `--policy-file`'s size bound. The service checks the document's own limit (a key policy: 32
 * KiB of characters, which UTF-8 may spell in more bytes); this only keeps the read bounded.
 */
export const MAX_POLICY_FILE_BYTES = 64 * 1024;

/** The file's text; `option` (default `--policy-file FILE`) starts every error message. */
export function readPolicyFile(file: string, option = `--policy-file ${file}`, maxBytes = MAX_POLICY_FILE_BYTES): string {
  const tooBig = (size: number) => new ConfigError(`${option}: a policy file is at most ${maxBytes} bytes, this one has ${size}.`);
  let text: Buffer;
  try {
    const size = statSync(file).size;
    if (size > maxBytes) throw tooBig(size);
    text = readFileSync(file);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${option}: the policy file cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}).`);
  }
  // It may have grown since it was measured.
  if (text.length > maxBytes) throw tooBig(text.length);
  return text.toString('utf8');
}
