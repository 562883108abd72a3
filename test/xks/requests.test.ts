/** Malformed XKS request bodies: each is a ValidationException that names what is wrong. */
import { describe, expect, it } from 'vitest';
import { XksError } from '../../src/xks/errors.js';
import { parseBody, parseDecryptRequest, parseEncryptRequest, parseHealthRequest, parseMetadataRequest } from '../../src/xks/requests.js';

const metadata = { awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice', kmsKeyArn: 'arn:aws:kms:us-east-2:123456789012:key/k', kmsOperation: 'Encrypt', kmsRequestId: 'r-1' };
const b64 = (n: number) => Buffer.alloc(n, 1).toString('base64');
const encryptBody = { requestMetadata: metadata, plaintext: b64(5), encryptionAlgorithm: 'AES_GCM' };
const decryptBody = { requestMetadata: metadata, ciphertext: b64(5), initializationVector: b64(12), authenticationTag: b64(16), encryptionAlgorithm: 'AES_GCM' };

function validation(fn: () => unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(XksError);
  expect((caught as XksError).errorName).toBe('ValidationException');
  expect((caught as XksError).status).toBe(400);
  expect((caught as XksError).message).toMatch(message);
}

describe('XKS request bodies', () => {
  it('accepts the specification examples, ignoring fields it does not know', () => {
    expect(parseEncryptRequest({ ...encryptBody, ciphertextDataIntegrityValueAlgorithm: 'SHA_256', extra: 1 }).cdiv).toBe(true);
    expect(parseDecryptRequest({ ...decryptBody, ciphertextMetadata: b64(20), initializationVector: b64(16) }).ciphertextMetadata).toHaveLength(20);
    expect(parseHealthRequest({ requestMetadata: { kmsOperation: 'KmsHealthCheck', kmsRequestId: 'x', somethingNew: 'y' } }).kmsOperation).toBe('KmsHealthCheck');
    expect(parseMetadataRequest({ requestMetadata: { ...metadata, kmsKeyArn: undefined } }).kmsKeyArn).toBeUndefined();
    expect(parseEncryptRequest({ ...encryptBody, plaintext: '' }).plaintext).toHaveLength(0);
  });

  it.each([
    ['not JSON', () => parseBody(Buffer.from('{')), 'not valid JSON'],
    ['a JSON array', () => parseBody(Buffer.from('[]')), 'JSON object'],
    ['no requestMetadata', () => parseHealthRequest({}), 'requestMetadata is required'],
    ['empty requestMetadata', () => parseHealthRequest({ requestMetadata: {} }), 'kmsRequestId is required'],
    ['requestMetadata as a string', () => parseHealthRequest({ requestMetadata: 'x' }), 'JSON object'],
    ['a numeric kmsOperation', () => parseHealthRequest({ requestMetadata: { kmsRequestId: 'x', kmsOperation: 7 } }), 'kmsOperation must be a string'],
    ['a 2049-character ARN', () => parseMetadataRequest({ requestMetadata: { ...metadata, awsPrincipalArn: 'a'.repeat(2049) } }), '2048'],
    ['no principal for GetKeyMetadata', () => parseMetadataRequest({ requestMetadata: { kmsRequestId: 'x', kmsOperation: 'CreateKey' } }), 'awsPrincipalArn'],
    ['no plaintext', () => parseEncryptRequest({ ...encryptBody, plaintext: undefined }), 'plaintext is required'],
    ['4301 bytes of plaintext', () => parseEncryptRequest({ ...encryptBody, plaintext: b64(4301) }), /at most 4300/],
    ['plaintext that is not base64', () => parseEncryptRequest({ ...encryptBody, plaintext: 'not base64!' }), 'standard base64'],
    ['url-safe base64', () => parseEncryptRequest({ ...encryptBody, plaintext: '-_-_' }), 'standard base64'],
    ['8193 bytes of AAD', () => parseEncryptRequest({ ...encryptBody, additionalAuthenticatedData: b64(8193) }), /at most 8192/],
    ['another algorithm', () => parseEncryptRequest({ ...encryptBody, encryptionAlgorithm: 'AES_CBC' }), 'AES_GCM'],
    ['no algorithm', () => parseEncryptRequest({ ...encryptBody, encryptionAlgorithm: undefined }), 'encryptionAlgorithm is required'],
    ['another CDIV algorithm', () => parseEncryptRequest({ ...encryptBody, ciphertextDataIntegrityValueAlgorithm: 'MD5' }), 'SHA_256'],
    ['no kmsKeyArn for Encrypt', () => parseEncryptRequest({ ...encryptBody, requestMetadata: { ...metadata, kmsKeyArn: undefined } }), 'kmsKeyArn'],
    ['an 11-byte IV', () => parseDecryptRequest({ ...decryptBody, initializationVector: b64(11) }), '12 or 16 bytes'],
    ['a 12-byte tag', () => parseDecryptRequest({ ...decryptBody, authenticationTag: b64(12) }), '16 bytes'],
    ['21 bytes of ciphertextMetadata', () => parseDecryptRequest({ ...decryptBody, ciphertextMetadata: b64(21) }), /at most 20/],
    ['no ciphertext', () => parseDecryptRequest({ ...decryptBody, ciphertext: undefined }), 'ciphertext is required'],
    ['a huge base64 string', () => parseEncryptRequest({ ...encryptBody, plaintext: 'A'.repeat(1_000_000) }), 'at most 4300'],
  ])('refuses %s', (_name, fn, message) => validation(fn, message));
});
