/**
 * GenerateDataKey: random bytes from the HSM, returned in plaintext and encrypted under a
 * symmetric KMS key. GenerateDataKeyWithoutPlaintext shares {@link generateDataKeyCommon}.
 */
import { encryptionContextConditions } from '../encryption-context.js';
import { KmsError } from '../errors.js';
import { DATA_KEY_SPECS } from '../model.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from '../operation.js';
import { blob, optionalEnum, optionalInteger, optionalStringMap, requiredKeyId } from '../validation.js';
import {
  dryRunSucceeded,
  encryptUnder,
  parseDryRun,
  parseGrantTokens,
  rejectRecipient,
  requireEncryptionAlgorithm,
  resolveUsableKey,
} from './crypto-helpers.js';

/** Validates, authorises and generates; `withPlaintext` decides whether the data key is returned. */
export async function generateDataKeyCommon(
  deps: KmsDeps,
  ctx: RequestContext,
  input: JsonObject,
  operation: 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext',
): Promise<JsonObject> {
  const keyIdValue = requiredKeyId(input);
  const context = optionalStringMap(input, 'EncryptionContext');
  const numberOfBytes = optionalInteger(input, 'NumberOfBytes', 1, 1024);
  const keySpec = optionalEnum(input, 'KeySpec', DATA_KEY_SPECS);
  parseGrantTokens(input);
  if (operation === 'GenerateDataKey') rejectRecipient(input);
  const dryRun = parseDryRun(input);
  if (numberOfBytes === undefined && keySpec === undefined)
    throw new KmsError('ValidationException', 'Please specify either NumberOfBytes or KeySpec.');
  if (numberOfBytes !== undefined && keySpec !== undefined)
    throw new KmsError('ValidationException', 'Please specify either NumberOfBytes or KeySpec, not both.');
  const length = numberOfBytes ?? (keySpec === 'AES_128' ? 16 : 32);

  const key = await resolveUsableKey(deps, keyIdValue, 'ENCRYPT_DECRYPT', operation);
  requireEncryptionAlgorithm(key, 'SYMMETRIC_DEFAULT');

  await deps.authorizer.authorize({
    principal: ctx.principal,
    action: `kms:${operation}`,
    key,
    context: { ...encryptionContextConditions(context), 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' },
  });
  if (dryRun) throw dryRunSucceeded();

  const dataKey = await deps.backend.generateRandom(length);
  try {
    const result = await encryptUnder(deps, key, 'SYMMETRIC_DEFAULT', dataKey, context, { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation });
    const output: JsonObject = { CiphertextBlob: blob(result.ciphertextBlob), KeyId: key.arn };
    if (operation === 'GenerateDataKey') output.Plaintext = blob(dataKey);
    if (result.keyMaterialId) output.KeyMaterialId = result.keyMaterialId;
    return output;
  } finally {
    dataKey.fill(0);
  }
}

export const generateDataKey: Operation = {
  name: 'GenerateDataKey',
  run: (deps, ctx, input) => generateDataKeyCommon(deps, ctx, input, 'GenerateDataKey'),
};
