/**
 * Verify: checks a signature with the key's public key. A signature that does not verify is
 * KMSInvalidSignatureException, as AWS does, never `SignatureValid: false`.
 */
import { KmsError } from '../errors.js';
import { MESSAGE_TYPES, SIGNING_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { optionalEnum, requiredBlob, requiredEnum, requiredKeyId } from '../validation.js';
import {
  dryRunSucceeded,
  loadMaterial,
  parseDryRun,
  parseGrantTokens,
  requireAlgorithmInKeyStore,
  requireDigestLength,
  requireMessageType,
  requirePublicKey,
  requireSigningAlgorithm,
  resolveUsableKey,
} from './crypto-helpers.js';

export const verify: Operation = {
  name: 'Verify',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const message = requiredBlob(input, 'Message', { min: 1, max: 4096 });
    const messageType = optionalEnum(input, 'MessageType', MESSAGE_TYPES) ?? 'RAW';
    const signature = requiredBlob(input, 'Signature', { min: 1, max: 6144 });
    const algorithm = requiredEnum(input, 'SigningAlgorithm', SIGNING_ALGORITHMS);
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);
    requireMessageType(algorithm, messageType);
    requireDigestLength(algorithm, message, messageType);

    const key = await resolveUsableKey(deps, keyIdValue, 'SIGN_VERIFY', 'Verify');
    requireSigningAlgorithm(key, algorithm);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:Verify',
      key,
      context: { 'kms:SigningAlgorithm': algorithm, 'kms:MessageType': messageType },
    });
    await requireAlgorithmInKeyStore(deps, algorithm);
    if (dryRun) throw dryRunSucceeded();

    const material = requirePublicKey(key, await loadMaterial(deps, key));
    if (!(await deps.backend.verify(material, algorithm, message, messageType, signature)))
      throw new KmsError('KMSInvalidSignatureException', 'The signature does not verify for this message, key and signing algorithm.');
    return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
  },
};
