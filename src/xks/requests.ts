/**
 * The four XKS proxy request bodies, parsed and checked against the specification. Anything
 * malformed is a ValidationException that names the field; unknown fields are ignored (KMS may
 * send more `requestMetadata` over time, and the specification says not to reject it).
 */
import { isBase64 } from '../core/validation.js';
import { xksError } from './errors.js';
import { MAX_AAD_BYTES, MAX_CIPHERTEXT_METADATA_BYTES } from './gcm-framing.js';

/** External key ids: 1–128 of A–Z a–z 0–9 . _ - (the specification's alphabet). */
export const XKS_KEY_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Largest plaintext (and so ciphertext) the specification requires a proxy to take. */
export const MAX_PLAINTEXT_BYTES = 4300;
/** ARNs and the other metadata strings: the specification's 2048-character ARN limit. */
const MAX_METADATA_STRING = 2048;

/** What KMS says about the request that caused this one (logged; the input of secondary authorization). */
export interface RequestMetadata {
  kmsRequestId: string;
  kmsOperation: string;
  awsPrincipalArn?: string | undefined;
  kmsKeyArn?: string | undefined;
  kmsViaService?: string | undefined;
  awsSourceVpc?: string | undefined;
  awsSourceVpce?: string | undefined;
}

export interface EncryptRequest {
  requestMetadata: RequestMetadata;
  plaintext: Buffer;
  additionalAuthenticatedData?: Buffer | undefined;
  /** `SHA_256` asks for a ciphertextDataIntegrityValue. */
  cdiv: boolean;
}

export interface DecryptRequest {
  requestMetadata: RequestMetadata;
  ciphertext: Buffer;
  initializationVector: Buffer;
  authenticationTag: Buffer;
  additionalAuthenticatedData?: Buffer | undefined;
  ciphertextMetadata?: Buffer | undefined;
}

type Json = Record<string, unknown>;

/** Parses the raw body: a JSON object, or ValidationException. */
export function parseBody(body: Buffer): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw xksError.validation('The request body is not valid JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw xksError.validation('The request body must be a JSON object.');
  return parsed as Json;
}

const METADATA_FIELDS = ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn', 'kmsKeyArn', 'kmsViaService', 'awsSourceVpc', 'awsSourceVpce'] as const;

/** `requestMetadata` with the fields an operation requires. */
export function requestMetadata(body: Json, required: ReadonlyArray<(typeof METADATA_FIELDS)[number]>): RequestMetadata {
  const value = body.requestMetadata;
  if (value === undefined || value === null) throw xksError.validation('requestMetadata is required.');
  if (typeof value !== 'object' || Array.isArray(value)) throw xksError.validation('requestMetadata must be a JSON object.');
  const source = value as Json;
  const out: Partial<RequestMetadata> = {};
  for (const field of METADATA_FIELDS) {
    const v = source[field];
    if (v === undefined || v === null) {
      if (required.includes(field)) throw xksError.validation(`requestMetadata.${field} is required.`);
      continue;
    }
    if (typeof v !== 'string') throw xksError.validation(`requestMetadata.${field} must be a string.`);
    if (v.length > MAX_METADATA_STRING) throw xksError.validation(`requestMetadata.${field} is longer than ${MAX_METADATA_STRING} characters.`);
    if (v === '' && required.includes(field)) throw xksError.validation(`requestMetadata.${field} must not be empty.`);
    out[field] = v;
  }
  return out as RequestMetadata;
}

function blob(body: Json, field: string, rule: { required: boolean; max: number; lengths?: readonly number[] }): Buffer | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    if (rule.required) throw xksError.validation(`${field} is required.`);
    return undefined;
  }
  // Length is checked on the encoded form first, so a huge value is refused before decoding.
  if (typeof value !== 'string' || value.length > Math.ceil(rule.max / 3) * 4 + 4 || !isBase64(value))
    throw xksError.validation(`${field} must be standard base64 of at most ${rule.max} bytes.`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length > rule.max) throw xksError.validation(`${field} is ${bytes.length} bytes; at most ${rule.max} are accepted.`);
  if (rule.lengths && !rule.lengths.includes(bytes.length)) throw xksError.validation(`${field} must be ${rule.lengths.join(' or ')} bytes, not ${bytes.length}.`);
  return bytes;
}

function encryptionAlgorithm(body: Json): void {
  const value = body.encryptionAlgorithm;
  if (value === undefined || value === null) throw xksError.validation('encryptionAlgorithm is required.');
  if (value !== 'AES_GCM') throw xksError.validation(`encryptionAlgorithm must be AES_GCM, not ${JSON.stringify(value).slice(0, 40)}.`);
}

export function parseHealthRequest(body: Json): RequestMetadata {
  return requestMetadata(body, ['kmsRequestId', 'kmsOperation']);
}

export function parseMetadataRequest(body: Json): RequestMetadata {
  return requestMetadata(body, ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn']);
}

export function parseEncryptRequest(body: Json): EncryptRequest {
  const metadata = requestMetadata(body, ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn', 'kmsKeyArn']);
  const plaintext = blob(body, 'plaintext', { required: true, max: MAX_PLAINTEXT_BYTES })!;
  const aad = blob(body, 'additionalAuthenticatedData', { required: false, max: MAX_AAD_BYTES });
  encryptionAlgorithm(body);
  const cdiv = body.ciphertextDataIntegrityValueAlgorithm;
  if (cdiv !== undefined && cdiv !== null && cdiv !== 'SHA_256')
    throw xksError.validation(`ciphertextDataIntegrityValueAlgorithm must be SHA_256, not ${JSON.stringify(cdiv).slice(0, 40)}.`);
  return { requestMetadata: metadata, plaintext, additionalAuthenticatedData: aad, cdiv: cdiv === 'SHA_256' };
}

export function parseDecryptRequest(body: Json): DecryptRequest {
  const metadata = requestMetadata(body, ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn', 'kmsKeyArn']);
  const ciphertext = blob(body, 'ciphertext', { required: true, max: MAX_PLAINTEXT_BYTES })!;
  const initializationVector = blob(body, 'initializationVector', { required: true, max: 16, lengths: [12, 16] })!;
  const authenticationTag = blob(body, 'authenticationTag', { required: true, max: 16, lengths: [16] })!;
  const aad = blob(body, 'additionalAuthenticatedData', { required: false, max: MAX_AAD_BYTES });
  const ciphertextMetadata = blob(body, 'ciphertextMetadata', { required: false, max: MAX_CIPHERTEXT_METADATA_BYTES });
  encryptionAlgorithm(body);
  return { requestMetadata: metadata, ciphertext, initializationVector, authenticationTag, additionalAuthenticatedData: aad, ciphertextMetadata };
}
