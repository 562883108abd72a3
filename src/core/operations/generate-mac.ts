/** GenerateMac: HMAC of up to 4 KiB with an HMAC key, computed in the HSM. */
import { MAC_ALGORITHMS } from '../model.js';
import type { Operation } from '../operation.js';
import { blob, requiredBlob, requiredEnum, requiredKeyId } from '../validation.js';
import { dryRunSucceeded, loadMaterial, parseDryRun, parseGrantTokens, requireMacAlgorithm, resolveUsableKey } from './crypto-helpers.js';

export const generateMac: Operation = {
  name: 'GenerateMac',
  async run(deps, ctx, input) {
    const message = requiredBlob(input, 'Message', { min: 1, max: 4096 });
    const keyIdValue = requiredKeyId(input);
    const algorithm = requiredEnum(input, 'MacAlgorithm', MAC_ALGORITHMS);
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);

    const key = await resolveUsableKey(deps, keyIdValue, 'GENERATE_VERIFY_MAC', 'GenerateMac');
    requireMacAlgorithm(key, algorithm);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:GenerateMac',
      key,
      context: { 'kms:MacAlgorithm': algorithm },
    });
    if (dryRun) throw dryRunSucceeded();

    const mac = await deps.backend.generateMac(await loadMaterial(deps, key), algorithm, message);
    return { Mac: blob(mac), MacAlgorithm: algorithm, KeyId: key.arn };
  },
};
