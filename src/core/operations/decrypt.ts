/**
 * Decrypt: a CiphertextBlob names its own key, so KeyId is optional for symmetric ciphertexts;
 * when given it must name that key (IncorrectKeyException otherwise). RSA ciphertexts need it.
 */
import { encryptionContextConditions } from '../encryption-context.js';
import { ENCRYPTION_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, optionalEnum, optionalString, optionalStringMap } from '../validation.js';
import {
  decryptTarget,
  dryRunSucceeded,
  parseCiphertextInput,
  parseDryRun,
  parseGrantTokens,
  rejectRecipient,
  resolveDecryptTarget,
  resolveDryRunSource,
} from './crypto-helpers.js';

export const decrypt: Operation = {
  name: 'Decrypt',
  async run(deps, ctx, input) {
    const dryRun = parseDryRun(input);
    const ciphertext = parseCiphertextInput(input, dryRun);
    const context = optionalStringMap(input, 'EncryptionContext');
    const keyIdValue = optionalString(input, 'KeyId', { min: 1, max: 2048 });
    const algorithm = optionalEnum(input, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    parseGrantTokens(input);
    rejectRecipient(input);

    const target =
      ciphertext === undefined
        ? await resolveDryRunSource(deps, keyIdValue, 'KeyId', algorithm, context, 'Decrypt')
        : await resolveDecryptTarget(deps, ciphertext, keyIdValue, algorithm, context, 'Decrypt');

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:Decrypt',
      key: target.key,
      context: { ...encryptionContextConditions(context), 'kms:EncryptionAlgorithm': algorithm },
    });
    if (dryRun) throw dryRunSucceeded();

    const plaintext = await decryptTarget(deps, target, context, { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation: 'Decrypt' });
    return {
      KeyId: target.key.arn,
      Plaintext: blob(plaintext),
      EncryptionAlgorithm: algorithm,
      ...(target.blob ? { KeyMaterialId: target.blob.versionId } : {}),
    };
  },
};
