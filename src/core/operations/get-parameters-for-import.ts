/**
 * GetParametersForImport: an RSA wrapping key pair created in the HSM for one key, valid 24 hours.
 * The private half is kept only wrapped by the backend, in an ImportTokenRecord; the client gets
 * the public key and an opaque ImportToken naming that record.
 */
import { randomUUID } from 'node:crypto';
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import { WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS } from '../model.js';
import { writeImportToken } from '../import-token.js';
import { withinInFlightLimit } from '../in-flight-limit.js';
import type { Operation } from '../operation.js';
import { blob, epochSeconds, requiredEnum, requiredKeyId } from '../validation.js';

/** How long an import token and its wrapping key are accepted (AWS: 24 hours). */
export const IMPORT_TOKEN_VALIDITY_MS = 24 * 60 * 60 * 1000;

/**
 * How many wrapping key pairs one process makes at once. Each is an RSA key pair generated in the
 * HSM on one of its pooled sessions (RSA_4096: seconds), so without a bound one caller's burst of
 * GetParametersForImport calls held every session and every other call waited behind it (16 at
 * once held Encrypt for 43 s). Beyond it: ThrottlingException, which AWS SDKs retry with backoff.
 */
export const MAX_WRAPPING_KEYS_IN_PROGRESS = 2;

export const getParametersForImport: Operation = {
  name: 'GetParametersForImport',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const wrappingAlgorithm = requiredEnum(input, 'WrappingAlgorithm', WRAPPING_ALGORITHMS);
    const wrappingKeySpec = requiredEnum(input, 'WrappingKeySpec', WRAPPING_KEY_SPECS);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (key.origin !== 'EXTERNAL')
      throw new KmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    requireNotPendingDeletion(key);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:GetParametersForImport',
      key,
      context: { 'kms:WrappingAlgorithm': wrappingAlgorithm, 'kms:WrappingKeySpec': wrappingKeySpec },
    });

    const wrappingKey = await withinInFlightLimit(
      deps.backend,
      'wrapping-key-pair',
      MAX_WRAPPING_KEYS_IN_PROGRESS,
      'GetParametersForImport calls are making their wrapping keys in the HSM',
      () => deps.backend.createWrappingKeyPair(wrappingKeySpec),
    );
    const createdAt = deps.clock.now();
    const expiresAt = new Date(createdAt.getTime() + IMPORT_TOKEN_VALIDITY_MS);
    const tokenId = randomUUID();
    const importToken = await writeImportToken(deps.backend, { tokenId, keyId: key.keyId, expiresAt });
    await deps.store.insertImportToken({
      tokenId,
      keyId: key.keyId,
      wrappingKeySpec,
      wrappingAlgorithm,
      wrappedPrivateKey: wrappingKey.wrapped,
      publicKey: wrappingKey.publicKey,
      createdAt,
      expiresAt,
    });
    return {
      KeyId: key.arn,
      ImportToken: blob(importToken),
      PublicKey: blob(wrappingKey.publicKey),
      ParametersValidTo: epochSeconds(expiresAt),
    };
  },
};
