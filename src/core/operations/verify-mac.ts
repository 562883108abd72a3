/**
 * VerifyMac: recomputes the HMAC in the HSM and compares in constant time. A mismatch is
 * KMSInvalidMacException, as AWS does, never `MacValid: false`.
 */
import { timingSafeEqual } from 'node:crypto';
import { KmsError } from '../errors.js';
import { MAC_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { requiredBlob, requiredEnum, requiredKeyId } from '../validation.js';
import { dryRunSucceeded, loadMaterial, parseDryRun, parseGrantTokens, requireMacAlgorithm, resolveUsableKey } from './crypto-helpers.js';

export const verifyMac: Operation = {
  name: 'VerifyMac',
  async run(deps, ctx, input) {
    const message = requiredBlob(input, 'Message', { min: 1, max: 4096 });
    const keyIdValue = requiredKeyId(input);
    const algorithm = requiredEnum(input, 'MacAlgorithm', MAC_ALGORITHMS);
    const mac = requiredBlob(input, 'Mac', { min: 1, max: 6144 });
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);

    const key = await resolveUsableKey(deps, keyIdValue, 'GENERATE_VERIFY_MAC', 'VerifyMac');
    requireMacAlgorithm(key, algorithm);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:VerifyMac',
      key,
      context: { 'kms:MacAlgorithm': algorithm },
    });
    if (dryRun) throw dryRunSucceeded();

    const expected = await deps.backend.generateMac(await loadMaterial(deps, key), algorithm, message);
    // The length of an HMAC is public (fixed by the algorithm), so only equal lengths need the constant-time compare.
    if (expected.length !== mac.length || !timingSafeEqual(expected, mac))
      throw new KmsError('KMSInvalidMacException', 'The MAC does not verify for this message, key and MAC algorithm.');
    return { KeyId: key.arn, MacValid: true, MacAlgorithm: algorithm };
  },
};
