/** Sign: RSASSA-PSS, RSASSA-PKCS1-v1_5, ECDSA (DER) or EdDSA over a message or its digest, in the HSM. */
import { MESSAGE_TYPES, SIGNING_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, optionalEnum, requiredBlob, requiredEnum, requiredKeyId } from '../validation.js';
import {
  dryRunSucceeded,
  loadMaterial,
  materialMissing,
  parseDryRun,
  parseGrantTokens,
  requireAlgorithmInKeyStore,
  requireDigestLength,
  requireMessageType,
  requireSigningAlgorithm,
  resolveUsableKey,
} from './crypto-helpers.js';

export const sign: Operation = {
  name: 'Sign',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const message = requiredBlob(input, 'Message', { min: 1, max: 4096 });
    const messageType = optionalEnum(input, 'MessageType', MESSAGE_TYPES) ?? 'RAW';
    const algorithm = requiredEnum(input, 'SigningAlgorithm', SIGNING_ALGORITHMS);
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);
    requireMessageType(algorithm, messageType);
    requireDigestLength(algorithm, message, messageType);

    const key = await resolveUsableKey(deps, keyIdValue, 'SIGN_VERIFY', 'Sign');
    requireSigningAlgorithm(key, algorithm);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:Sign',
      key,
      context: { 'kms:SigningAlgorithm': algorithm, 'kms:MessageType': messageType },
    });
    await requireAlgorithmInKeyStore(deps, algorithm);
    if (dryRun) throw dryRunSucceeded();

    const material = await loadMaterial(deps, key);
    const signature = await deps.backend.sign(material, algorithm, message, messageType).catch((error: unknown) => {
      throw materialMissing(key, error);
    });
    return { KeyId: key.arn, Signature: blob(signature), SigningAlgorithm: algorithm };
  },
};
