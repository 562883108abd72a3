/** Renders a key record as AWS's `KeyMetadata` structure. */
import type { EncryptionAlgorithm, KeyAgreementAlgorithm, KeyRecord, MacAlgorithm, SigningAlgorithm } from './model.js';
import type { JsonObject } from './operation.js';
import { epochSeconds } from './validation.js';

export function encryptionAlgorithmsFor(key: Pick<KeyRecord, 'keySpec' | 'keyUsage'>): EncryptionAlgorithm[] | undefined {
  if (key.keyUsage !== 'ENCRYPT_DECRYPT') return undefined;
  return key.keySpec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];
}

export function signingAlgorithmsFor(key: Pick<KeyRecord, 'keySpec' | 'keyUsage'>): SigningAlgorithm[] | undefined {
  if (key.keyUsage !== 'SIGN_VERIFY') return undefined;
  switch (key.keySpec) {
    case 'RSA_2048':
    case 'RSA_3072':
    case 'RSA_4096':
      return [
        'RSASSA_PKCS1_V1_5_SHA_256',
        'RSASSA_PKCS1_V1_5_SHA_384',
        'RSASSA_PKCS1_V1_5_SHA_512',
        'RSASSA_PSS_SHA_256',
        'RSASSA_PSS_SHA_384',
        'RSASSA_PSS_SHA_512',
      ];
    case 'ECC_NIST_P256':
    case 'ECC_SECG_P256K1':
      return ['ECDSA_SHA_256'];
    case 'ECC_NIST_P384':
      return ['ECDSA_SHA_384'];
    case 'ECC_NIST_P521':
      return ['ECDSA_SHA_512'];
    case 'ECC_NIST_EDWARDS25519':
      return ['ED25519_SHA_512', 'ED25519_PH_SHA_512'];
    default:
      return undefined;
  }
}

export function macAlgorithmsFor(key: Pick<KeyRecord, 'keySpec' | 'keyUsage'>): MacAlgorithm[] | undefined {
  if (key.keyUsage !== 'GENERATE_VERIFY_MAC') return undefined;
  return [`HMAC_SHA_${key.keySpec.slice('HMAC_'.length)}` as MacAlgorithm];
}

export function keyAgreementAlgorithmsFor(key: Pick<KeyRecord, 'keyUsage'>): KeyAgreementAlgorithm[] | undefined {
  return key.keyUsage === 'KEY_AGREEMENT' ? ['ECDH'] : undefined;
}

/** Where a key of a custom key store lives, for its metadata. */
export interface KeyStoreLocationMetadata {
  customKeyStoreId: string;
  cloudHsmClusterId?: string | undefined;
  xksKeyId?: string | undefined;
  /** Keys of a store that is not connected are `Unavailable`, as in AWS (PendingDeletion stays). */
  connected: boolean;
}

/** `multiRegion`: the key's MultiRegionConfiguration (multi-region/metadata.ts), for `mrk-` keys. */
export function keyMetadata(key: KeyRecord, location?: KeyStoreLocationMetadata, multiRegion?: JsonObject): JsonObject {
  const keyState = location && !location.connected && key.keyState !== 'PendingDeletion' ? 'Unavailable' : key.keyState;
  const metadata: JsonObject = {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: epochSeconds(key.creationDate),
    Enabled: keyState === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: keyState,
    Origin: key.origin,
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    MultiRegion: key.keyId.startsWith('mrk-'),
  };
  if (multiRegion) metadata.MultiRegionConfiguration = multiRegion;
  if (location) {
    metadata.CustomKeyStoreId = location.customKeyStoreId;
    if (location.cloudHsmClusterId) metadata.CloudHsmClusterId = location.cloudHsmClusterId;
    if (location.xksKeyId) metadata.XksKeyConfiguration = { Id: location.xksKeyId };
  }
  if (key.deletionDate) metadata.DeletionDate = epochSeconds(key.deletionDate);
  if (key.pendingDeletionWindowInDays !== undefined) metadata.PendingDeletionWindowInDays = key.pendingDeletionWindowInDays;
  if (key.origin === 'EXTERNAL') {
    if (key.expirationModel) metadata.ExpirationModel = key.expirationModel;
    if (key.validTo) metadata.ValidTo = epochSeconds(key.validTo);
  }
  // AWS: "present for symmetric encryption keys with AWS_KMS or EXTERNAL origin" — the keys that
  // rotate; an HMAC or asymmetric key's DescribeKey has none. An imported key whose material was
  // deleted or expired (PendingImport) still shows the id it keeps, as AWS KMS's DescribeKey after
  // DeleteImportedKeyMaterial does (recorded); one never imported into has none yet.
  if (key.currentVersionId && hasKeyMaterialIds(key)) metadata.CurrentKeyMaterialId = key.currentVersionId;
  const enc = encryptionAlgorithmsFor(key);
  if (enc) metadata.EncryptionAlgorithms = enc;
  const sig = signingAlgorithmsFor(key);
  if (sig) metadata.SigningAlgorithms = sig;
  const mac = macAlgorithmsFor(key);
  if (mac) metadata.MacAlgorithms = mac;
  const agreement = keyAgreementAlgorithmsFor(key);
  if (agreement) metadata.KeyAgreementAlgorithms = agreement;
  return metadata;
}

/** Whether AWS shows this key's KeyMaterialIds: symmetric encryption keys of AWS_KMS or EXTERNAL origin. */
function hasKeyMaterialIds(key: Pick<KeyRecord, 'keySpec' | 'origin'>): boolean {
  return key.keySpec === 'SYMMETRIC_DEFAULT' && (key.origin === 'AWS_KMS' || key.origin === 'EXTERNAL');
}

/** A MaterialRef cache id for one key version. */
export function materialId(keyId: string, versionId: string): string {
  return `${keyId}/${versionId}`;
}
