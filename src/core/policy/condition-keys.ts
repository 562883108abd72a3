/**
 * The condition keys hsmkms knows, with the type and arity AWS documents for each (AWS KMS
 * Developer Guide, "AWS KMS condition keys"; IAM User Guide, "AWS global condition context
 * keys"). The authorizer uses this to know what to put in a request's context and in which
 * form; the evaluator uses it to refuse what AWS refuses (e.g. `ForAllValues` on a
 * single-valued encryption-context key).
 */

/** How a key's values are compared, in IAM's words (the operator family that fits it). */
export type ConditionKeyType = 'String' | 'Numeric' | 'Date' | 'Bool' | 'IPAddress' | 'ARN' | 'Binary';

export interface ConditionKeyInfo {
  /** The key as AWS spells it; for a prefix key, the prefix up to and including `:` or `/`. */
  readonly name: string;
  readonly type: ConditionKeyType;
  /**
   * Multivalued keys (`kms:EncryptionContextKeys`, `aws:TagKeys`, …) take a string array in
   * `RequestFacts.context` and need `ForAnyValue:`/`ForAllValues:` in a policy; single-valued
   * keys take a string.
   */
  readonly multiValued: boolean;
  /** True for key families such as `kms:EncryptionContext:<key>` and `aws:PrincipalTag/<key>`. */
  readonly prefix: boolean;
  /** What the value is, for the authorizer and for `policy explain`. */
  readonly description: string;
}

function key(name: string, type: ConditionKeyType, multiValued: boolean, description: string): ConditionKeyInfo {
  const prefix = name.endsWith(':') || name.endsWith('/');
  return { name, type, multiValued, prefix, description };
}

const KEYS: readonly ConditionKeyInfo[] = [
  key('kms:BypassPolicyLockoutSafetyCheck', 'Bool', false, 'The BypassPolicyLockoutSafetyCheck parameter of CreateKey and PutKeyPolicy (false when absent).'),
  key('kms:CallerAccount', 'String', false, 'The account id of the caller.'),
  key('kms:DataKeyPairSpec', 'String', false, 'The KeyPairSpec of GenerateDataKeyPair[WithoutPlaintext].'),
  key('kms:EncryptionAlgorithm', 'String', false, 'The encryption algorithm of the request (SYMMETRIC_DEFAULT when absent).'),
  key('kms:EncryptionContext:', 'String', false, 'The value of one encryption-context pair; the key name follows the colon and is matched case-insensitively.'),
  key('kms:EncryptionContextKeys', 'String', true, 'The keys of the request’s encryption context; absent when it has none.'),
  key('kms:ExpirationModel', 'String', false, 'The ExpirationModel of ImportKeyMaterial.'),
  key('kms:GrantConstraintType', 'String', false, 'EncryptionContextEquals or EncryptionContextSubset, when a CreateGrant has constraints.'),
  key('kms:GrantIsForAWSResource', 'Bool', false, 'Whether an AWS service creates the grant on the caller’s behalf (always false here).'),
  key('kms:GrantOperations', 'String', true, 'The Operations of CreateGrant.'),
  key('kms:GranteePrincipal', 'String', false, 'The GranteePrincipal of CreateGrant.'),
  key('kms:KeyAgreementAlgorithm', 'String', false, 'The KeyAgreementAlgorithm of DeriveSharedSecret.'),
  key('kms:KeyOrigin', 'String', false, 'The Origin of the key (or of the CreateKey request).'),
  key('kms:KeySpec', 'String', false, 'The KeySpec of the key (or of the CreateKey request).'),
  key('kms:KeyUsage', 'String', false, 'The KeyUsage of the key (or of the CreateKey request).'),
  key('kms:MacAlgorithm', 'String', false, 'The MacAlgorithm of GenerateMac and VerifyMac.'),
  key('kms:MessageType', 'String', false, 'RAW or DIGEST, for Sign and Verify.'),
  key('kms:MultiRegion', 'Bool', false, 'Whether the key is multi-Region.'),
  key('kms:MultiRegionKeyType', 'String', false, 'PRIMARY or REPLICA, for multi-Region keys.'),
  key('kms:PrimaryRegion', 'String', false, 'The PrimaryRegion of UpdatePrimaryRegion (and of a replica being created).'),
  key('kms:ReplicaRegion', 'String', false, 'The ReplicaRegion of ReplicateKey.'),
  key('kms:ReEncryptOnSameKey', 'Bool', false, 'Whether ReEncrypt uses the same key for source and destination.'),
  key('kms:RequestAlias', 'String', false, 'The alias name the request used to identify the key; absent when it used a key id or ARN.'),
  key('kms:ResourceAliases', 'String', true, 'The alias names of the key.'),
  key('kms:RetiringPrincipal', 'String', false, 'The RetiringPrincipal of CreateGrant.'),
  key('kms:RotationPeriodInDays', 'Numeric', false, 'The RotationPeriodInDays of EnableKeyRotation.'),
  key('kms:ScheduleKeyDeletionPendingWindowInDays', 'Numeric', false, 'The PendingWindowInDays of ScheduleKeyDeletion.'),
  key('kms:SigningAlgorithm', 'String', false, 'The SigningAlgorithm of Sign and Verify.'),
  key('kms:ValidTo', 'Date', false, 'The ValidTo of ImportKeyMaterial, in epoch seconds (AWS compares it with Numeric operators too).'),
  key('kms:ViaService', 'String', false, 'The AWS service that made the request on the caller’s behalf; absent for direct calls.'),
  key('kms:WrappingAlgorithm', 'String', false, 'The WrappingAlgorithm of GetParametersForImport.'),
  key('kms:WrappingKeySpec', 'String', false, 'The WrappingKeySpec of GetParametersForImport.'),
  key('aws:CurrentTime', 'Date', false, 'The time of the request, ISO 8601.'),
  key('aws:EpochTime', 'Date', false, 'The time of the request, epoch seconds.'),
  key('aws:PrincipalAccount', 'String', false, 'The account id of the caller.'),
  key('aws:PrincipalArn', 'ARN', false, 'The ARN of the caller.'),
  key('aws:PrincipalTag/', 'String', false, 'A tag of the calling principal.'),
  key('aws:PrincipalType', 'String', false, 'User, or Account for the root credentials.'),
  key('aws:RequestTag/', 'String', false, 'A tag in the request (CreateKey, TagResource).'),
  key('aws:RequestedRegion', 'String', false, 'The region the request was sent to.'),
  key('aws:ResourceAccount', 'String', false, 'The account id that owns the key.'),
  key('aws:ResourceTag/', 'String', false, 'A tag of the key.'),
  key('aws:SecureTransport', 'Bool', false, 'Whether the request came over TLS.'),
  key('aws:SourceIp', 'IPAddress', false, 'The address of the client.'),
  key('aws:TagKeys', 'String', true, 'The tag keys in the request.'),
  key('aws:userid', 'String', false, 'The unique id of the caller.'),
  key('aws:username', 'String', false, 'The user name of the caller; absent for the root credentials.'),
];

/**
 * Every condition key hsmkms puts in a request context, by its AWS spelling; key families are
 * listed under their prefix (`kms:EncryptionContext:`, `aws:PrincipalTag/`, `aws:ResourceTag/`,
 * `aws:RequestTag/`). Look a concrete key up with {@link conditionKeyInfo}.
 */
export const CONDITION_KEY_TYPES: Readonly<Record<string, ConditionKeyInfo>> = Object.freeze(
  Object.fromEntries(KEYS.map((info) => [info.name, info])),
);

const EXACT = new Map<string, ConditionKeyInfo>();
const PREFIXES: ConditionKeyInfo[] = [];
for (const info of KEYS) {
  if (info.prefix) PREFIXES.push(info);
  else EXACT.set(info.name.toLowerCase(), info);
}

/**
 * The catalogue entry for a condition key, matched case-insensitively as IAM matches key names
 * (`kms:encryptioncontext:Tenant` → the `kms:EncryptionContext:` family), or `undefined` for a
 * key hsmkms does not know (IAM evaluates unknown keys as absent).
 */
export function conditionKeyInfo(name: string): ConditionKeyInfo | undefined {
  const lower = name.toLowerCase();
  const exact = EXACT.get(lower);
  if (exact) return exact;
  for (const info of PREFIXES)
    if (lower.length > info.name.length && lower.startsWith(info.name.toLowerCase())) return info;
  return undefined;
}
