/**
 * The console's pure parts, in Node: the policy check it runs as you type (the server's parser
 * and lockout check, plus JSON positions), and how it names a failed call.
 */
import { describe, expect, it } from 'vitest';
import { checkPolicy, lineAndColumn } from '../../console/src/components/policy-check.js';
import { toFailure } from '../../console/src/api/errors.js';
import { HsmKmsError } from '../../src/client/hsmkms-protocol.js';
import { MAX_CSR_BYTES as CONSOLE_MAX_CSR_BYTES, REVOCATION_REASONS as CONSOLE_REASONS } from '../../console/src/api/certificate-rules.js';
import { MAX_CSR_BYTES } from '../../src/ca/csr.js';
import { REVOCATION_REASON_NAMES } from '../../src/core/certificates/certificate-rules.js';

const ACCOUNT = '111122223333';
const alice = { principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`, accountId: ACCOUNT, partition: 'aws' };
const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements }, null, 2);
const ROOT_ADMIN = { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' };

describe('checkPolicy', () => {
  it('accepts what PutKeyPolicy accepts and counts the statements', () => {
    expect(checkPolicy(policy(ROOT_ADMIN, { Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*' }), 'resource', alice)).toEqual({ ok: true, statements: 2 });
  });

  it('points at the first JSON error by line and column', () => {
    const text = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow",}\n  ]\n}';
    const check = checkPolicy(text, 'resource', alice);
    expect(check).toMatchObject({ ok: false, name: 'JSON', line: 4, column: 24 });
    expect(text[(check as { position: number }).position]).toBe('}');
    expect(checkPolicy('{"Version": ', 'resource')).toMatchObject({ ok: false, name: 'JSON', line: 1 });
    expect(checkPolicy('   ', 'resource')).toMatchObject({ ok: false, name: 'ValidationException' });
  });

  it('names the grammar error in the server’s words', () => {
    expect(checkPolicy(policy({ Effect: 'Allow', Principal: '*', Action: 'kms:*' }), 'resource')).toMatchObject({
      ok: false,
      name: 'MalformedPolicyDocumentException',
      message: expect.stringContaining('Resource'),
    });
    expect(checkPolicy(policy({ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringEqualz: { 'kms:CallerAccount': ACCOUNT } } }), 'resource')).toMatchObject({
      ok: false,
      name: 'MalformedPolicyDocumentException',
    });
    // Identity policies name no Principal.
    expect(checkPolicy(policy(ROOT_ADMIN), 'identity')).toMatchObject({ ok: false, name: 'MalformedPolicyDocumentException' });
    expect(checkPolicy(policy({ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: '*' }), 'identity')).toEqual({ ok: true, statements: 1 });
  });

  it('refuses a key policy that would lock its editor out, as the service does', () => {
    const bobOnly = policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: 'kms:*', Resource: '*' });
    expect(checkPolicy(bobOnly, 'resource', alice)).toMatchObject({ ok: false, name: 'MalformedPolicyDocumentException', message: expect.stringContaining('will not allow you') });
    expect(checkPolicy(bobOnly, 'resource')).toEqual({ ok: true, statements: 1 });
  });

  it('counts lines and columns from 1', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});

describe('toFailure', () => {
  it('keeps the AWS exception name and message, and the approval request a quorum refusal names', () => {
    expect(toFailure(new HsmKmsError('AccessDeniedException', 'User: x is not authorized', 400, {}))).toEqual({ name: 'AccessDeniedException', message: 'User: x is not authorized' });
    const id = `ar-${'0a'.repeat(16)}`;
    expect(toFailure(new HsmKmsError('QuorumApprovalRequiredException', 'needs approval', 400, { ApprovalRequestId: id }))).toMatchObject({ approvalRequestId: id });
    // The KMS SDK does not model the exception: its message names the request.
    const sdk = Object.assign(new Error(`This call needs quorum approval. Approval request ${id} is pending.`), { name: 'QuorumApprovalRequiredException' });
    expect(toFailure(sdk)).toEqual({ name: 'QuorumApprovalRequiredException', message: sdk.message, approvalRequestId: id });
    expect(toFailure(new TypeError('Failed to fetch'))).toMatchObject({ name: 'NetworkError', message: expect.stringContaining('Failed to fetch') });
    expect(toFailure('odd')).toEqual({ name: 'Error', message: 'odd' });
  });
});

describe('the certificate page’s copies of the service’s rules', () => {
  it('offers exactly the revocation reasons RevokeCertificate takes, and the same CSR limit', () => {
    expect([...CONSOLE_REASONS]).toEqual(Object.keys(REVOCATION_REASON_NAMES));
    expect(CONSOLE_MAX_CSR_BYTES).toBe(MAX_CSR_BYTES);
  });
});
