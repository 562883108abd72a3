/**
 * DeriveSharedSecret: ECDH of a KEY_AGREEMENT key's private key (in the HSM) with a peer's public
 * key; the raw shared secret (the shared point's x-coordinate) goes to the caller.
 */
import { EC_SPEC_CURVES, ecSpkiCurve, ecSpkiPoint, type EcCurveName } from '../ec-spki.js';
import { BackendError, KmsError } from '../errors.js';
import { KEY_AGREEMENT_ALGORITHMS, type KeyRecord, type KeySpec } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, requiredBlob, requiredEnum, requiredKeyId } from '../validation.js';
import { dryRunSucceeded, loadMaterial, parseDryRun, parseGrantTokens, rejectRecipient, resolveUsableKey } from './crypto-helpers.js';

/** The curves KEY_AGREEMENT keys may be on (the NIST ones). */
const CURVES: Partial<Record<KeySpec, EcCurveName>> = {
  ECC_NIST_P256: EC_SPEC_CURVES.ECC_NIST_P256,
  ECC_NIST_P384: EC_SPEC_CURVES.ECC_NIST_P384,
  ECC_NIST_P521: EC_SPEC_CURVES.ECC_NIST_P521,
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
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:DeriveSharedSecret',
      key,
      context: { 'kms:KeyAgreementAlgorithm': algorithm },
    });
    // Read only for a caller who may use the key.
    requirePeerKeyOnCurve(key, peerPublicKey);
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

/**
 * The peer's key must be a strict-DER SubjectPublicKeyInfo of a point on the KMS key's curve (named
 * curve, uncompressed or compressed point). Read by ec-spki.ts, never by node:crypto's key
 * accessors, which abort the process on the point at infinity.
 */
function requirePeerKeyOnCurve(key: KeyRecord, spki: Buffer): void {
  const curve = CURVES[key.keySpec];
  if (curve === undefined) throw new KmsError('InvalidKeyUsageException', `${key.arn} (${key.keySpec}) cannot derive a shared secret.`);
  if (ecSpkiPoint(spki, curve) !== undefined) return;
  const named = ecSpkiCurve(spki);
  throw invalidPublicKey(
    key,
    named !== undefined && named !== curve
      ? `it is on curve ${named}, not on the curve of ${key.keySpec} (${curve})`
      : `it is not a DER-encoded SubjectPublicKeyInfo of a point on ${curve} (named curve; uncompressed or compressed point)`,
  );
}

function invalidPublicKey(key: KeyRecord, why: string): KmsError {
  return new KmsError('ValidationException', `The PublicKey cannot be used with ${key.arn}: ${why}.`);
}
