/**
 * The operations a grant can allow and which of them each kind of key supports. Kept free of
 * the store and of Node, so the web console offers exactly the choice CreateGrant accepts.
 */
import type { KeyRecord } from '../model.js';

/** Operations a grant can allow, with their wire names (AWS `GrantOperation`). */
export const GRANT_OPERATIONS = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'Sign',
  'Verify',
  'GetPublicKey',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
] as const;
export type GrantOperation = (typeof GRANT_OPERATIONS)[number];

/** Operations that carry an encryption context: the only ones a constraint restricts. */
export const CONTEXT_GRANT_OPERATIONS: ReadonlySet<GrantOperation> = new Set([
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
]);
/** Allowed in every grant, constrained or not. */
export const GRANT_MANAGEMENT_OPERATIONS: readonly GrantOperation[] = ['CreateGrant', 'RetireGrant', 'DescribeKey'];

/** The grant operations a key supports, by its usage and spec (AWS's key type table). */
export function grantOperationsFor(key: Pick<KeyRecord, 'keyUsage' | 'keySpec'>): ReadonlySet<GrantOperation> {
  const ops: GrantOperation[] = [...GRANT_MANAGEMENT_OPERATIONS];
  if (key.keyUsage === 'GENERATE_VERIFY_MAC') ops.push('GenerateMac', 'VerifyMac');
  else if (key.keyUsage === 'SIGN_VERIFY') ops.push('Sign', 'Verify', 'GetPublicKey');
  else if (key.keyUsage === 'KEY_AGREEMENT') ops.push('DeriveSharedSecret', 'GetPublicKey');
  else if (key.keySpec === 'SYMMETRIC_DEFAULT') ops.push(...CONTEXT_GRANT_OPERATIONS);
  else ops.push('Encrypt', 'Decrypt', 'ReEncryptFrom', 'ReEncryptTo', 'GetPublicKey');
  return new Set(ops);
}
