/**
 * HsmKms.AbandonReplica — called by a multi-Region primary's deployment when it gives up creating
 * the replica here (a permanent refusal; the region left the key's set): removes the placeholder
 * that PrepareReplica recorded (KeyState `Creating`, no material). Only a placeholder of that
 * primary, recorded by the calling principal, is removed (an operator clears a placeholder whose
 * primary never returns with RemoveCreatingReplica); a replica that exists (its material arrived)
 * is never touched. Answers
 * whether one was removed; removing nothing is not an error (the call is repeated safely).
 */
import { PEER_REGION_CONTEXT } from '../authorization/peer-region.js';
import type { Operation } from '../operation.js';
import { requiredString } from '../validation.js';
import { MULTI_REGION_KEY_ID, REGION_RULE } from './model.js';

export const abandonReplica: Operation = {
  name: 'AbandonReplica',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
    // As PrepareReplica: the placeholder's own policy may not name the peer principal.
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'hsmkms:AbandonReplica',
      context: { 'kms:MultiRegion': 'true', 'kms:PrimaryRegion': primaryRegion, [PEER_REGION_CONTEXT]: primaryRegion },
    });
    const removed = await deps.store.transaction(async (tx) => {
      const key = await tx.getKey(keyId);
      // Only the principal that recorded it (its owner, the primary's peer principal) removes it.
      if (!key || key.keyState !== 'Creating' || key.ownerArn !== ctx.principal.arn) return false;
      if ((await tx.multiRegion.getMultiRegionKey(keyId))?.primaryRegion !== primaryRegion) return false;
      await tx.deleteKey(keyId);
      return true;
    });
    return { KeyId: keyId, Removed: removed };
  },
};
