/**
 * HsmKms.RemoveCreatingReplica — an operator's way out for a replica left in KeyState `Creating`
 * in this region because its primary's deployment never came back (or its HsmKms.AbandonReplica is
 * refused for good): removes that placeholder (no material, never usable) with its tags and set
 * record. A Crypto Officer's operation (`hsmkms key remove-creating-replica`, offline or online).
 *
 * The rule, so that a replica whose transfer could still complete is never removed:
 * - only a replica still `Creating` (never a key with material: ScheduleKeyDeletion deletes those);
 * - refused while a transport key PrepareReplica made for it is still valid (they live ten
 *   minutes): an ImportReplica may still arrive with it — the answer says until when;
 * - the placeholder and every transport key made for it go in one transaction, so an ImportReplica
 *   that took its transport key before and is still unwrapping writes nothing (its own transaction
 *   finds the placeholder gone) and a later one finds no transport key.
 * A primary that is in fact alive and still lists this region starts again with PrepareReplica on
 * its next attempt, which records the replica anew: the region holds the key again, as its primary says.
 */
import { KmsError } from '../errors.js';
import { keyArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredString } from '../validation.js';
import { isPrimaryHere, MULTI_REGION_KEY_ID } from './model.js';

export const removeCreatingReplica: Operation = {
  name: 'RemoveCreatingReplica',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:RemoveCreatingReplica', context: { 'kms:MultiRegion': 'true' } });
    const now = deps.clock.now();
    const removed = await deps.store.transaction(async (tx) => {
      const key = await tx.getKey(keyId);
      const set = key && (await tx.multiRegion.getMultiRegionKey(keyId));
      if (!key || !set) throw new KmsError('NotFoundException', `Key '${keyArn(deps.settings, keyId)}' does not exist`);
      if (key.keyState !== 'Creating' || isPrimaryHere(set, deps.settings))
        throw new KmsError(
          'KMSInvalidStateException',
          `${key.arn} is ${key.keyState}, not a replica being created: only a replica still Creating is removed this way (ScheduleKeyDeletion deletes a key that exists).`,
        );
      const until = await tx.multiRegion.transportKeysValidUntil(keyId, now);
      if (until)
        throw new KmsError(
          'KMSInvalidStateException',
          `A transfer of ${key.arn} from ${set.primaryRegion} may still complete until ${until.toISOString()} (its transport key is valid until then); try again after that time.`,
        );
      await tx.multiRegion.deleteTransportKeysOf(keyId);
      await tx.deleteKey(keyId);
      return { arn: key.arn, primaryRegion: set.primaryRegion };
    });
    return { KeyId: removed.arn, PrimaryRegion: removed.primaryRegion, Removed: true };
  },
};
