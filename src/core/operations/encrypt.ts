/** Encrypt: up to 4 KiB under a symmetric key (AES-GCM blob) or an RSA key (RSAES-OAEP). */
import { encryptionContextConditions } from '../encryption-context.js';
import { ENCRYPTION_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, optionalEnum, optionalStringMap, requiredBlob, requiredKeyId } from '../validation.js';
import {
  dryRunSucceeded,
  encryptUnder,
  parseDryRun,
  parseGrantTokens,
  requireEncryptionAlgorithm,
  requireNoContextForAsymmetric,
  requireOaepPlaintextFits,
  resolveUsableKey,
} from './crypto-helpers.js';

export const encrypt: Operation = {
  name: 'Encrypt',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const plaintext = requiredBlob(input, 'Plaintext', { min: 1, max: 4096 });
    const context = optionalStringMap(input, 'EncryptionContext');
    const algorithm = optionalEnum(input, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);

    const key = await resolveUsableKey(deps, keyIdValue, 'ENCRYPT_DECRYPT', 'Encrypt');
    requireEncryptionAlgorithm(key, algorithm);
    requireNoContextForAsymmetric(key, context);
    requireOaepPlaintextFits(key, algorithm, plaintext.length);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:Encrypt',
      key,
      context: { ...encryptionContextConditions(context), 'kms:EncryptionAlgorithm': algorithm },
    });
    if (dryRun) throw dryRunSucceeded();

    const result = await encryptUnder(deps, key, algorithm, plaintext, context, { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation: 'Encrypt' });
    // AWS's EncryptResponse has these three members only (no KeyMaterialId, unlike Decrypt's).
    return { CiphertextBlob: blob(result.ciphertextBlob), KeyId: key.arn, EncryptionAlgorithm: algorithm };
  },
};
