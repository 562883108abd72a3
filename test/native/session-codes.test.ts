/**
 * The return codes after which the TLS addon reconnects (native/session-codes.h) are the ones the
 * KMS backend classifies `gone` or `fatal`, those after which it does not close the session are
 * the backend's `gone` ones, and those it tests the session for are the backend's `ambiguous` ones
 * (src/backend/pkcs11/errors.ts): one classification, written twice, held equal.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CKR_CLASSES } from '../../src/backend/pkcs11/errors.js';

const header = readFileSync(new URL('../../native/session-codes.h', import.meta.url), 'utf8');

/** The codes a macro lists: from its #define to the first blank line. */
function list(macro: string): string[] {
  const start = header.indexOf(`#define ${macro}(X)`);
  expect(start, macro).toBeGreaterThanOrEqual(0);
  const end = header.indexOf('\n\n', start);
  const text = header.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/X\((CKR_\w+)\)/g)].map((m) => m[1]!).sort();
}

const ofClass = (c: string) =>
  Object.entries(CKR_CLASSES)
    .filter(([, k]) => k === c)
    .map(([code]) => code)
    .sort();

describe('session-gone, session-fatal and ambiguous return codes', () => {
  it('are the same in the addon and in the backend', () => {
    expect(list('HSMKMS_SESSION_GONE_CODES')).toEqual(ofClass('gone'));
    expect(list('HSMKMS_SESSION_FATAL_CODES')).toEqual(ofClass('fatal'));
    expect(list('HSMKMS_AMBIGUOUS_CODES')).toEqual(ofClass('ambiguous'));
  });
});
