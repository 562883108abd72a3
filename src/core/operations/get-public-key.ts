/** GetPublicKey: the SubjectPublicKeyInfo (DER) of an asymmetric key and what it may be used for. */
import { KmsError } from '../errors.js';
import { encryptionAlgorithmsFor, keyAgreementAlgorithmsFor, signingAlgorithmsFor } from '../key-metadata.js';
import { requireEnabled, resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { blob, requiredKeyId } from '../validation.js';
import { loadMaterial, parseGrantTokens, requirePublicKey } from './crypto-helpers.js';

export const getPublicKey: Operation = {
  name: 'GetPublicKey',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    parseGrantTokens(input);

    const key = await resolveKey(deps.store, deps.settings, keyIdValue);
    requireEnabled(key);
    if (!key.keySpec.startsWith('RSA_') && !key.keySpec.startsWith('ECC_'))
      throw new KmsError('UnsupportedOperationException', `${key.arn} is not an asymmetric KMS key; it has no public key.`);

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:GetPublicKey', key, context: {} });

    const material = requirePublicKey(key, await loadMaterial(deps, key));
    const output: Record<string, unknown> = {
      KeyId: key.arn,
      PublicKey: blob(material.publicKey),
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
    };
    const encryption = encryptionAlgorithmsFor(key);
    if (encryption) output.EncryptionAlgorithms = encryption;
    const signing = signingAlgorithmsFor(key);
    if (signing) output.SigningAlgorithms = signing;
    const agreement = keyAgreementAlgorithmsFor(key);
    if (agreement) output.KeyAgreementAlgorithms = agreement;
    return output;
  },
};
