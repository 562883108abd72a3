/**
 * The registry of KMS operations: wire name → implementation. One file per operation;
 * adding an operation is one file and one line here.
 */
import type { Operation } from '../operation.js';
import { createKey } from './create-key.js';
import { describeKey } from './describe-key.js';
import { listKeys } from './list-keys.js';
import { updateKeyDescription } from './update-key-description.js';
import { enableKey } from './enable-key.js';
import { disableKey } from './disable-key.js';
import { scheduleKeyDeletion } from './schedule-key-deletion.js';
import { cancelKeyDeletion } from './cancel-key-deletion.js';
import { encrypt } from './encrypt.js';
import { decrypt } from './decrypt.js';
import { reEncrypt } from './re-encrypt.js';
import { generateDataKey } from './generate-data-key.js';
import { generateDataKeyWithoutPlaintext } from './generate-data-key-without-plaintext.js';
import { generateDataKeyPair } from './generate-data-key-pair.js';
import { generateDataKeyPairWithoutPlaintext } from './generate-data-key-pair-without-plaintext.js';
import { generateRandom } from './generate-random.js';
import { sign } from './sign.js';
import { verify } from './verify.js';
import { getPublicKey } from './get-public-key.js';
import { deriveSharedSecret } from './derive-shared-secret.js';
import { generateMac } from './generate-mac.js';
import { verifyMac } from './verify-mac.js';
import { createAlias } from './create-alias.js';
import { updateAlias } from './update-alias.js';
import { deleteAlias } from './delete-alias.js';
import { listAliases } from './list-aliases.js';
import { tagResource } from './tag-resource.js';
import { untagResource } from './untag-resource.js';
import { listResourceTags } from './list-resource-tags.js';
import { enableKeyRotation } from './enable-key-rotation.js';
import { disableKeyRotation } from './disable-key-rotation.js';
import { getKeyRotationStatus } from './get-key-rotation-status.js';
import { rotateKeyOnDemand } from './rotate-key-on-demand.js';
import { listKeyRotations } from './list-key-rotations.js';
import { getParametersForImport } from './get-parameters-for-import.js';
import { importKeyMaterial } from './import-key-material.js';
import { deleteImportedKeyMaterial } from './delete-imported-key-material.js';
import { getKeyPolicy } from './get-key-policy.js';
import { putKeyPolicy } from './put-key-policy.js';
import { listKeyPolicies } from './list-key-policies.js';
import { createGrant } from './create-grant.js';
import { listGrants } from './list-grants.js';
import { listRetirableGrants } from './list-retirable-grants.js';
import { retireGrant } from './retire-grant.js';
import { revokeGrant } from './revoke-grant.js';
import { createCustomKeyStore } from './create-custom-key-store.js';
import { describeCustomKeyStores } from './describe-custom-key-stores.js';
import { updateCustomKeyStore } from './update-custom-key-store.js';
import { connectCustomKeyStore } from './connect-custom-key-store.js';
import { disconnectCustomKeyStore } from './disconnect-custom-key-store.js';
import { deleteCustomKeyStore } from './delete-custom-key-store.js';
import { replicateKey } from './replicate-key.js';
import { updatePrimaryRegion } from './update-primary-region.js';

/** Every operation hsmkms serves, by `TrentService.<name>`. */
export const allOperations: ReadonlyMap<string, Operation> = new Map(
  [
    createKey,
    describeKey,
    listKeys,
    updateKeyDescription,
    enableKey,
    disableKey,
    scheduleKeyDeletion,
    cancelKeyDeletion,
    encrypt,
    decrypt,
    reEncrypt,
    generateDataKey,
    generateDataKeyWithoutPlaintext,
    generateDataKeyPair,
    generateDataKeyPairWithoutPlaintext,
    generateRandom,
    sign,
    verify,
    getPublicKey,
    deriveSharedSecret,
    generateMac,
    verifyMac,
    createAlias,
    updateAlias,
    deleteAlias,
    listAliases,
    tagResource,
    untagResource,
    listResourceTags,
    enableKeyRotation,
    disableKeyRotation,
    getKeyRotationStatus,
    rotateKeyOnDemand,
    listKeyRotations,
    getParametersForImport,
    importKeyMaterial,
    deleteImportedKeyMaterial,
    getKeyPolicy,
    putKeyPolicy,
    listKeyPolicies,
    createGrant,
    listGrants,
    listRetirableGrants,
    retireGrant,
    revokeGrant,
    createCustomKeyStore,
    describeCustomKeyStores,
    updateCustomKeyStore,
    connectCustomKeyStore,
    disconnectCustomKeyStore,
    deleteCustomKeyStore,
    replicateKey,
    updatePrimaryRegion,
  ].map((operation) => [operation.name, operation]),
);
