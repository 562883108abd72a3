/**
 * DeriveSharedSecret: ECDH of a KEY_AGREEMENT key's private key (in the HSM) with a peer's public
 * key; the raw shared secret (the shared point's x-coordinate) goes to the caller.
 */
import { createPublicKey } from 'node:crypto';
import { BackendError, KmsError } from '../errors.js';
import { KEY_AGREEMENT_ALGORITHMS, type KeyRecord, type KeySpec } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, requiredBlob, requiredEnum, requiredKeyId } from '../validation.js';
import { dryRunSucceeded, loadMaterial, parseDryRun, parseGrantTokens, rejectRecipient, resolveUsableKey } from './crypto-helpers.js';

/** OpenSSL's names of the curves KEY_AGREEMENT keys may be on. */
const CURVES: Partial<Record<KeySpec, string>> = {
  ECC_NIST_P256: 'prime256v1',
  ECC_NIST_P384: 'secp384r1',
  ECC_NIST_P521: 'secp521r1',
};

export const deriveSharedSecret: Operation = {
  name: 'DeriveSharedSecret',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const algorithm = requiredEnum(input, 'KeyAgreementAlgorithm', KEY_AGREEMENT_ALGORITHMS);
    const peerPublicKey = requiredBlob(input, 'PublicKey', { min: 1, max: 8192 });
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);
    rejectRecipient(input);

    const key = await resolveUsableKey(deps, keyIdValue, 'KEY_AGREEMENT', 'DeriveSharedSecret');
    requirePeerKeyOnCurve(key, peerPublicKey);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:DeriveSharedSecret',
      key,
      context: { 'kms:KeyAgreementAlgorithm': algorithm },
    });
    if (dryRun) throw dryRunSucceeded();

    let secret: Buffer;
    try {
      secret = await deps.backend.deriveSharedSecret(await loadMaterial(deps, key), peerPublicKey);
    } catch (err) {
      // The token refused the point: the caller's public key, not a fault of the service.
      if (err instanceof BackendError && err.kind === 'data') throw invalidPublicKey(key, 'the HSM rejected its point');
      throw err;
    }
    try {
      return { KeyId: key.arn, SharedSecret: blob(secret), KeyAgreementAlgorithm: algorithm, KeyOrigin: key.origin };
    } finally {
      secret.fill(0);
    }
  },
};

/** The peer's key must be a valid EC SubjectPublicKeyInfo (point on the curve) on the KMS key's curve. */
function requirePeerKeyOnCurve(key: KeyRecord, spki: Buffer): void {
  const curve = CURVES[key.keySpec];
  if (curve === undefined) throw new KmsError('InvalidKeyUsageException', `${key.arn} (${key.keySpec}) cannot derive a shared secret.`);
  let peerCurve: string | undefined;
  try {
    const peer = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    peerCurve = peer.asymmetricKeyType === 'ec' ? peer.asymmetricKeyDetails?.namedCurve : undefined;
  } catch {
    throw invalidPublicKey(key, 'it is not a DER-encoded SubjectPublicKeyInfo of a valid elliptic curve point');
  }
  if (peerCurve !== curve)
    throw invalidPublicKey(key, `it is ${peerCurve === undefined ? 'not an elliptic curve key' : `on curve ${peerCurve}`}, not on the curve of ${key.keySpec} (${curve})`);
}

function invalidPublicKey(key: KeyRecord, why: string): KmsError {
  return new KmsError('ValidationException', `The PublicKey cannot be used with ${key.arn}: ${why}.`);
}
