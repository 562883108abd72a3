/**
 * GenerateDataKeyPair: a fresh RSA or EC key pair whose private key (PKCS#8) is returned
 * encrypted under a symmetric KMS key, and in plaintext unless the caller asked for
 * GenerateDataKeyPairWithoutPlaintext, which shares {@link generateDataKeyPairCommon}.
 */
import { encryptionContextConditions } from '../encryption-context.js';
import { withinInFlightLimit } from '../in-flight-limit.js';
import { DATA_KEY_PAIR_SPECS } from '../model.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from '../operation.js';
import { blob, optionalStringMap, requiredEnum, requiredKeyId } from '../validation.js';
import {
  dryRunSucceeded,
  encryptUnder,
  parseDryRun,
  parseGrantTokens,
  rejectRecipient,
  requireEncryptionAlgorithm,
  resolveUsableKey,
} from './crypto-helpers.js';

/**
 * How many RSA data key pairs one process makes at once (in software, on libuv's thread pool,
 * which the audit trail's writes also use): 12 RSA_4096 GenerateDataKeyPair calls at once held
 * another caller's Encrypt for 24 s. Beyond it: ThrottlingException (in-flight-limit.ts).
 */
export const MAX_RSA_DATA_KEY_PAIRS_IN_PROGRESS = 2;

export async function generateDataKeyPairCommon(
  deps: KmsDeps,
  ctx: RequestContext,
  input: JsonObject,
  operation: 'GenerateDataKeyPair' | 'GenerateDataKeyPairWithoutPlaintext',
): Promise<JsonObject> {
  const keyIdValue = requiredKeyId(input);
  const keyPairSpec = requiredEnum(input, 'KeyPairSpec', DATA_KEY_PAIR_SPECS);
  const context = optionalStringMap(input, 'EncryptionContext');
  parseGrantTokens(input);
  if (operation === 'GenerateDataKeyPair') rejectRecipient(input);
  const dryRun = parseDryRun(input);

  const key = await resolveUsableKey(deps, keyIdValue, 'ENCRYPT_DECRYPT', operation);
  requireEncryptionAlgorithm(key, 'SYMMETRIC_DEFAULT');

  await deps.authorizer.authorize({
    principal: ctx.principal,
    action: `kms:${operation}`,
    key,
    context: {
      ...encryptionContextConditions(context),
      'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
      'kms:DataKeyPairSpec': keyPairSpec,
    },
  });
  if (dryRun) throw dryRunSucceeded();

  // An RSA pair takes a libuv thread for seconds (RSA_4096); EC and Ed25519 pairs take microseconds.
  const pair = keyPairSpec.startsWith('RSA_')
    ? await withinInFlightLimit(deps.backend, 'rsa-data-key-pair', MAX_RSA_DATA_KEY_PAIRS_IN_PROGRESS, `${operation} calls are making RSA key pairs`, () =>
        deps.backend.generateDataKeyPair(keyPairSpec),
      )
    : await deps.backend.generateDataKeyPair(keyPairSpec);
  try {
    const result = await encryptUnder(deps, key, 'SYMMETRIC_DEFAULT', pair.privateKey, context, { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation });
    const output: JsonObject = {
      KeyId: key.arn,
      KeyPairSpec: keyPairSpec,
      PrivateKeyCiphertextBlob: blob(result.ciphertextBlob),
      PublicKey: blob(pair.publicKey),
    };
    if (operation === 'GenerateDataKeyPair') output.PrivateKeyPlaintext = blob(pair.privateKey);
    if (result.keyMaterialId) output.KeyMaterialId = result.keyMaterialId;
    return output;
  } finally {
    pair.privateKey.fill(0);
  }
}

export const generateDataKeyPair: Operation = {
  name: 'GenerateDataKeyPair',
  run: (deps, ctx, input) => generateDataKeyPairCommon(deps, ctx, input, 'GenerateDataKeyPair'),
};
