/**
 * CancelKeyDeletion: keeps a key pending deletion (or a multi-Region primary waiting for its
 * replicas' deletion, PendingReplicaDeletion); like AWS, it comes back Disabled.
 */
import { KmsError } from '../errors.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { lacksAssociatedMaterial } from './imported-materials.js';
import { updateKeyRecord } from './key-updates.js';

function requirePendingDeletion(key: KeyRecord): void {
  if (key.keyState !== 'PendingDeletion' && key.keyState !== 'PendingReplicaDeletion')
    throw new KmsError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
}

export const cancelKeyDeletion: Operation = {
  name: 'CancelKeyDeletion',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    requirePendingDeletion(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:CancelKeyDeletion', key, context: {} });
    const updated = await updateKeyRecord(deps, key.keyId, async (current, tx) => {
      requirePendingDeletion(current);
      // A key whose imported material was never supplied, or was deleted or expired meanwhile
      // (DeleteImportedKeyMaterial and expiry leave a key pending deletion so), has nothing to enable.
      const keyState = current.currentVersionId === undefined || (await lacksAssociatedMaterial(tx, current)) ? 'PendingImport' : 'Disabled';
      return { ...current, keyState, deletionDate: undefined, pendingDeletionWindowInDays: undefined };
    });
    return { KeyId: updated.arn };
  },
};
