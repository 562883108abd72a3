/**
 * ReEncrypt: decrypts under the source key and encrypts under the destination key without the
 * plaintext leaving the service. Authorised twice: kms:ReEncryptFrom on the source key with the
 * source context, kms:ReEncryptTo on the destination key with the destination context.
 */
import { encryptionContextConditions } from '../encryption-context.js';
import { ENCRYPTION_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, optionalEnum, optionalString, optionalStringMap, requiredKeyId } from '../validation.js';
import {
  decryptTarget,
  dryRunSucceeded,
  encryptUnder,
  parseCiphertextInput,
  parseDryRun,
  parseGrantTokens,
  requireEncryptionAlgorithm,
  requireNoContextForAsymmetric,
  resolveDecryptTarget,
  resolveDryRunSource,
  resolveUsableKey,
} from './crypto-helpers.js';

export const reEncrypt: Operation = {
  name: 'ReEncrypt',
  async run(deps, ctx, input) {
    const dryRun = parseDryRun(input);
    const ciphertext = parseCiphertextInput(input, dryRun);
    const sourceContext = optionalStringMap(input, 'SourceEncryptionContext');
    const sourceKeyIdValue = optionalString(input, 'SourceKeyId', { min: 1, max: 2048 });
    const destinationKeyIdValue = requiredKeyId(input, 'DestinationKeyId');
    const destinationContext = optionalStringMap(input, 'DestinationEncryptionContext');
    const sourceAlgorithm = optionalEnum(input, 'SourceEncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    const destinationAlgorithm = optionalEnum(input, 'DestinationEncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    parseGrantTokens(input);

    const source =
      ciphertext === undefined
        ? await resolveDryRunSource(deps, sourceKeyIdValue, 'SourceKeyId', sourceAlgorithm, sourceContext, 'ReEncrypt')
        : await resolveDecryptTarget(deps, ciphertext, sourceKeyIdValue, sourceAlgorithm, sourceContext, 'ReEncrypt');
    const destination = await resolveUsableKey(deps, destinationKeyIdValue, 'ENCRYPT_DECRYPT', 'ReEncrypt');
    requireEncryptionAlgorithm(destination, destinationAlgorithm);
    requireNoContextForAsymmetric(destination, destinationContext);

    const sameKey = String(source.key.keyId === destination.keyId);
    // Together: one quorum approval covers the rules guarding either key.
    await deps.authorizer.authorize([
      {
        principal: ctx.principal,
        action: 'kms:ReEncryptFrom',
        key: source.key,
        context: {
          ...encryptionContextConditions(sourceContext),
          'kms:EncryptionAlgorithm': sourceAlgorithm,
          'kms:ReEncryptOnSameKey': sameKey,
        },
      },
      {
        principal: ctx.principal,
        action: 'kms:ReEncryptTo',
        key: destination,
        context: {
          ...encryptionContextConditions(destinationContext),
          'kms:EncryptionAlgorithm': destinationAlgorithm,
          'kms:ReEncryptOnSameKey': sameKey,
        },
      },
    ]);
    if (dryRun) throw dryRunSucceeded();

    const plaintext = await decryptTarget(deps, source, sourceContext, { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation: 'ReEncrypt' });
    try {
      const result = await encryptUnder(deps, destination, destinationAlgorithm, plaintext, destinationContext, { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation: 'ReEncrypt' });
      return {
        CiphertextBlob: blob(result.ciphertextBlob),
        SourceKeyId: source.key.arn,
        KeyId: destination.arn,
        SourceEncryptionAlgorithm: sourceAlgorithm,
        DestinationEncryptionAlgorithm: destinationAlgorithm,
        ...(source.blob ? { SourceKeyMaterialId: source.blob.versionId } : {}),
        ...(result.keyMaterialId ? { DestinationKeyMaterialId: result.keyMaterialId } : {}),
      };
    } finally {
      plaintext.fill(0);
    }
  },
};
