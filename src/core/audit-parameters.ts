/**
 * What of a request the audit trail may keep: the one place that decides it.
 *
 * Each operation's known, non-secret request members are listed by wire name (from the AWS KMS
 * API reference); everything else a caller sends is dropped, so an unknown member can no longer
 * make a request write a megabyte into the trail. Values are then bounded the way CloudTrail
 * bounds its fields: long strings and long lists are cut, with a marker saying how much was cut.
 * Secret members (plaintext, blobs, key material, grant tokens, passwords) are never listed;
 * {@link isSecretMemberName} also drops them at any depth inside a kept structure, as a last
 * line of defence when a new operation's entry lists a structure that holds one.
 *
 * Adding an operation: one line in {@link AUDITED_PARAMETERS}, under its registry key (`Encrypt`,
 * `HsmKms.CreatePrincipal`; test/core/audit-parameters.test.ts fails for a registered operation
 * without one). An operation without a line keeps only the scalar identifiers in
 * {@link SAFE_IDENTIFIERS}, never its body.
 */

/** Known request members, by operation. Blobs, plaintext, grant tokens and secrets are absent on purpose. */
export const AUDITED_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  CancelKeyDeletion: ['KeyId'],
  ConnectCustomKeyStore: ['CustomKeyStoreId'],
  CreateAlias: ['AliasName', 'TargetKeyId'],
  CreateCustomKeyStore: [
    'CustomKeyStoreName',
    'CloudHsmClusterId',
    'TrustAnchorCertificate',
    'CustomKeyStoreType',
    'XksProxyUriEndpoint',
    'XksProxyUriPath',
    'XksProxyVpcEndpointServiceName',
    'XksProxyVpcEndpointServiceOwner',
    'XksProxyConnectivity',
  ],
  CreateGrant: ['KeyId', 'GranteePrincipal', 'RetiringPrincipal', 'Operations', 'Constraints', 'Name', 'DryRun'],
  CreateKey: [
    'Policy',
    'Description',
    'KeyUsage',
    'CustomerMasterKeySpec',
    'KeySpec',
    'Origin',
    'CustomKeyStoreId',
    'BypassPolicyLockoutSafetyCheck',
    'Tags',
    'MultiRegion',
    'XksKeyId',
  ],
  Decrypt: ['KeyId', 'EncryptionContext', 'EncryptionAlgorithm', 'DryRun', 'DryRunModifiers'],
  DeleteAlias: ['AliasName'],
  DeleteCustomKeyStore: ['CustomKeyStoreId'],
  DeleteImportedKeyMaterial: ['KeyId', 'KeyMaterialId'],
  DeriveSharedSecret: ['KeyId', 'KeyAgreementAlgorithm', 'DryRun'],
  DescribeCustomKeyStores: ['CustomKeyStoreId', 'CustomKeyStoreName', 'Limit', 'Marker'],
  DescribeKey: ['KeyId'],
  DisableKey: ['KeyId'],
  DisableKeyRotation: ['KeyId'],
  DisconnectCustomKeyStore: ['CustomKeyStoreId'],
  EnableKey: ['KeyId'],
  EnableKeyRotation: ['KeyId', 'RotationPeriodInDays'],
  Encrypt: ['KeyId', 'EncryptionContext', 'EncryptionAlgorithm', 'DryRun'],
  GenerateDataKey: ['KeyId', 'EncryptionContext', 'NumberOfBytes', 'KeySpec', 'DryRun'],
  GenerateDataKeyPair: ['KeyId', 'EncryptionContext', 'KeyPairSpec', 'DryRun'],
  GenerateDataKeyPairWithoutPlaintext: ['KeyId', 'EncryptionContext', 'KeyPairSpec', 'DryRun'],
  GenerateDataKeyWithoutPlaintext: ['KeyId', 'EncryptionContext', 'NumberOfBytes', 'KeySpec', 'DryRun'],
  GenerateMac: ['KeyId', 'MacAlgorithm', 'DryRun'],
  GenerateRandom: ['NumberOfBytes', 'CustomKeyStoreId'],
  GetKeyPolicy: ['KeyId', 'PolicyName'],
  GetKeyRotationStatus: ['KeyId'],
  GetParametersForImport: ['KeyId', 'WrappingAlgorithm', 'WrappingKeySpec'],
  GetPublicKey: ['KeyId'],
  ImportKeyMaterial: ['KeyId', 'ValidTo', 'ExpirationModel', 'ImportType', 'KeyMaterialDescription', 'KeyMaterialId'],
  ListAliases: ['KeyId', 'Limit', 'Marker'],
  ListGrants: ['KeyId', 'GrantId', 'GranteePrincipal', 'Limit', 'Marker'],
  ListKeyPolicies: ['KeyId', 'Limit', 'Marker'],
  ListKeyRotations: ['KeyId', 'IncludeKeyMaterial', 'Limit', 'Marker'],
  ListKeys: ['Limit', 'Marker'],
  ListResourceTags: ['KeyId', 'Limit', 'Marker'],
  ListRetirableGrants: ['RetiringPrincipal', 'Limit', 'Marker'],
  PutKeyPolicy: ['KeyId', 'PolicyName', 'Policy', 'BypassPolicyLockoutSafetyCheck'],
  ReEncrypt: [
    'SourceKeyId',
    'DestinationKeyId',
    'SourceEncryptionContext',
    'DestinationEncryptionContext',
    'SourceEncryptionAlgorithm',
    'DestinationEncryptionAlgorithm',
    'DryRun',
    'DryRunModifiers',
  ],
  ReplicateKey: ['KeyId', 'ReplicaRegion', 'Policy', 'BypassPolicyLockoutSafetyCheck', 'Description', 'Tags'],
  RetireGrant: ['KeyId', 'GrantId', 'DryRun'],
  RevokeGrant: ['KeyId', 'GrantId', 'DryRun'],
  RotateKeyOnDemand: ['KeyId'],
  ScheduleKeyDeletion: ['KeyId', 'PendingWindowInDays'],
  Sign: ['KeyId', 'MessageType', 'SigningAlgorithm', 'DryRun'],
  TagResource: ['KeyId', 'Tags'],
  UntagResource: ['KeyId', 'TagKeys'],
  UpdateAlias: ['AliasName', 'TargetKeyId'],
  UpdateCustomKeyStore: [
    'CustomKeyStoreId',
    'NewCustomKeyStoreName',
    'CloudHsmClusterId',
    'XksProxyUriEndpoint',
    'XksProxyUriPath',
    'XksProxyVpcEndpointServiceName',
    'XksProxyVpcEndpointServiceOwner',
    'XksProxyConnectivity',
  ],
  UpdateKeyDescription: ['KeyId', 'Description'],
  UpdatePrimaryRegion: ['KeyId', 'PrimaryRegion'],
  Verify: ['KeyId', 'MessageType', 'SigningAlgorithm', 'DryRun'],
  VerifyMac: ['KeyId', 'MacAlgorithm', 'DryRun'],

  // HsmKms.* (src/core/admin, src/core/quorum/operations). Identity policies are kept like key
  // policies: whole up to the top-level string limit, then cut. Grant tokens never.
  'HsmKms.CreatePrincipal': ['UserName', 'Roles', 'Tags'],
  'HsmKms.ListPrincipals': ['Limit', 'Marker'],
  'HsmKms.GetPrincipal': ['UserName'],
  'HsmKms.UpdatePrincipalRoles': ['UserName', 'Roles'],
  'HsmKms.PutPrincipalPolicy': ['UserName', 'PolicyName', 'PolicyDocument'],
  'HsmKms.DeletePrincipalPolicy': ['UserName', 'PolicyName'],
  'HsmKms.DeletePrincipal': ['UserName'],
  'HsmKms.CreateAccessKey': ['UserName'],
  'HsmKms.DeleteAccessKey': ['UserName', 'AccessKeyId'],
  'HsmKms.TagPrincipal': ['UserName', 'Tags'],
  'HsmKms.UntagPrincipal': ['UserName', 'TagKeys'],
  'HsmKms.GetCallerIdentity': [],
  // Multi-Region transfers between deployments (src/core/multi-region): never the wrapped material.
  'HsmKms.SyncMultiRegionKey': ['KeyId', 'PrimaryRegion', 'Regions', 'CurrentKeyMaterialId', 'RotationEnabled', 'RotationPeriodInDays', 'NextRotationDate'],
  'HsmKms.PrepareReplica': ['KeyId', 'KeySpec', 'Existing', 'Replica'],
  'HsmKms.AbandonReplica': ['KeyId', 'PrimaryRegion'],
  'HsmKms.RemoveCreatingReplica': ['KeyId'],
  'HsmKms.ImportReplica': [
    'Origin',
    'TransportKeyId',
    'TransportHash',
    'KeyId',
    'KeySpec',
    'KeyUsage',
    'PrimaryRegion',
    'Regions',
    'CurrentKeyMaterialId',
    'RotationPeriodInDays',
    'Description',
    'Policy',
    'BypassPolicyLockoutSafetyCheck',
    'Tags',
  ],
  'HsmKms.ImportReplicaVersions': ['TransportKeyId', 'TransportHash', 'KeyId'],
  'HsmKms.ExplainAuthorization': ['PrincipalArn', 'UserName', 'Action', 'KeyId', 'EncryptionContext', 'Context', 'SourceIp', 'SecureTransport'],
  'HsmKms.PutQuorumRule': ['RuleId', 'Action', 'KeyId', 'TaggedKeysOnly', 'MinApprovals', 'Approvers'],
  'HsmKms.ListQuorumRules': [],
  'HsmKms.DeleteQuorumRule': ['RuleId'],
  'HsmKms.ListApprovalRequests': ['Status', 'Limit', 'Marker'],
  'HsmKms.GetApprovalRequest': ['ApprovalRequestId'],
  'HsmKms.ApproveRequest': ['ApprovalRequestId'],
  'HsmKms.RejectRequest': ['ApprovalRequestId'],
  // The private CA (src/core/certificates). A CSR holds a public key and names, no secret: kept
  // (cut past 32 KiB), so approvers and auditors see what was asked to be certified.
  'HsmKms.IssueCertificate': ['CaName', 'Csr', 'Profile', 'ValidityDays'],
  'HsmKms.RevokeCertificate': ['CaName', 'SerialNumber', 'RevocationReason'],
  'HsmKms.ListCertificates': ['CaName', 'Limit', 'Marker', 'Status'],
  'HsmKms.ReissueIntermediate': ['CaName', 'ValidityDays'],
  'HsmKms.ListCertificateAuthorities': [],
  // Reading the audit trail (src/core/audit-reading).
  'HsmKms.LookupAuditEvents': ['StartTime', 'EndTime', 'LookupAttributes', 'MaxResults', 'NextToken'],
  'HsmKms.VerifyAuditTrail': ['From', 'To'],
  // The XKS proxy's own calls (src/http/xks-route.ts): the external key id, the parsed
  // requestMetadata and the algorithms; never plaintext, ciphertext or AAD.
  'Xks.GetHealthStatus': ['requestMetadata'],
  'Xks.GetKeyMetadata': ['keyId', 'requestMetadata'],
  'Xks.Encrypt': ['keyId', 'requestMetadata', 'encryptionAlgorithm', 'ciphertextDataIntegrityValueAlgorithm'],
  'Xks.Decrypt': ['keyId', 'requestMetadata', 'encryptionAlgorithm'],
};

/**
 * For an operation without an entry: only these members, and only as short scalars (strings,
 * numbers, booleans). They name things; they carry no data.
 */
export const SAFE_IDENTIFIERS: ReadonlySet<string> = new Set([
  'KeyId',
  'TargetKeyId',
  'SourceKeyId',
  'DestinationKeyId',
  'AliasName',
  'GrantId',
  'CustomKeyStoreId',
  'KeyMaterialId',
  'PolicyName',
  'Arn',
  'PrincipalArn',
  'CertificateArn',
]);

/**
 * Member names (as on the AWS wire) that are never written, at any depth: plaintext, key
 * material, blobs that identify nothing, bearer tokens and secrets.
 */
export const SECRET_MEMBERS: ReadonlySet<string> = new Set([
  'Plaintext',
  'CiphertextBlob',
  'SourceCiphertextBlob',
  'CiphertextForRecipient',
  'EncryptedKeyMaterial',
  'KeyMaterial',
  'ImportToken',
  'PrivateKey',
  'PrivateKeyPlaintext',
  'PrivateKeyCiphertextBlob',
  'PublicKey',
  'SharedSecret',
  'Message',
  'Signature',
  'Mac',
  'SecretAccessKey',
  'RawSecretAccessKey',
  'SessionToken',
  'KeyStorePassword',
  'XksProxyAuthenticationCredential',
  'GrantToken',
  'GrantTokens',
  'Recipient',
]);

/** Any member whose name says it is secret, whatever its spelling (`secretAccessKey`, `userPin`, `password`). */
const SECRET_NAME = /secret|password|passphrase|plaintext|private.?key|pin$/i;

/** Limits, CloudTrail-style: a cut value says how much was cut. */
export const AUDIT_LIMITS = {
  /** A top-level string (a 32 KiB key policy fits whole). */
  topLevelString: 32 * 1024,
  /** A string inside a list or structure (tag values, context values, principals). */
  nestedString: 1024,
  /** An identifier kept for an operation without an entry. */
  identifier: 256,
  /** Items of a list, members of a map. */
  items: 50,
  /** Nesting below the parameters object. */
  depth: 6,
  /** Characters of string data over all parameters of one record. */
  totalCharacters: 64 * 1024,
  /** A caller-supplied header kept in the record (User-Agent). */
  header: 1024,
} as const;

export function isSecretMemberName(name: string): boolean {
  return SECRET_MEMBERS.has(name) || SECRET_NAME.test(name);
}

/**
 * Objects {@link auditParameters} made: already cut to its limits, so {@link sanitizeAuditValue}
 * passes them through. Cleaning them again would cost a second walk per call and cut their
 * top-level strings to the nested limit (a 32 KiB key policy to 1 KiB).
 */
const CLEANED = new WeakSet<object>();

/** The request parameters of `operation` as the audit trail keeps them. */
export function auditParameters(operation: string, input: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const known = AUDITED_PARAMETERS[operation];
  const out: Record<string, unknown> = {};
  if (!known) {
    for (const name of SAFE_IDENTIFIERS) {
      const value = input[name];
      if (typeof value === 'string') out[name] = cutString(value, AUDIT_LIMITS.identifier);
      else if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) out[name] = value;
    }
    CLEANED.add(out);
    return out;
  }
  const budget = { left: AUDIT_LIMITS.totalCharacters };
  for (const name of known) {
    if (!Object.hasOwn(input, name) || isSecretMemberName(name)) continue;
    const clean = sanitize(input[name], 0, budget);
    if (clean !== undefined) out[name] = clean;
  }
  CLEANED.add(out);
  return out;
}

/**
 * A JSON-safe, bounded copy of a value for the audit trail: no secret members, no binary
 * values, functions or cycles; strings, lists and maps cut as {@link auditParameters} does.
 * Returns `undefined` for a value that must be dropped entirely. What {@link auditParameters}
 * returned is returned as it is.
 */
export function sanitizeAuditValue(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && CLEANED.has(value)) return value;
  return sanitize(value, 0, { left: AUDIT_LIMITS.totalCharacters });
}

/** `text` cut to `max` characters, with a marker naming the original length. */
export function cutString(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never leave half a surrogate pair behind: the line must stay well-formed UTF-8.
  let end = Math.max(0, max);
  const last = text.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…[truncated: ${text.length} characters]`;
}

/** Every value costs at least this much of the budget, so a body of many tiny values is bounded too. */
const MIN_COST = 4;

function sanitize(value: unknown, depth: number, budget: { left: number }): unknown {
  budget.left -= MIN_COST;
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const cut = cutString(value, Math.max(0, Math.min(depth === 0 ? AUDIT_LIMITS.topLevelString : AUDIT_LIMITS.nestedString, budget.left)));
    budget.left -= Math.min(value.length, cut.length);
    return cut;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return undefined;
  if (typeof value !== 'object' || depth >= AUDIT_LIMITS.depth) return undefined;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    let seen = 0;
    for (; seen < value.length && seen < AUDIT_LIMITS.items && budget.left > 0; seen++) {
      const clean = sanitize(value[seen], depth + 1, budget);
      if (clean !== undefined) out.push(clean);
    }
    if (seen < value.length) out.push(`…[${value.length - seen} more items]`);
    return out;
  }
  const out: Record<string, unknown> = {};
  let kept = 0;
  let more = 0;
  for (const name in value) {
    if (!Object.hasOwn(value, name) || isSecretMemberName(name)) continue;
    if (kept >= AUDIT_LIMITS.items || budget.left <= 0) {
      more++;
      continue;
    }
    const key = cutString(name, AUDIT_LIMITS.nestedString);
    budget.left -= key.length;
    const clean = sanitize((value as Record<string, unknown>)[name], depth + 1, budget);
    if (clean === undefined) continue;
    // defineProperty, not assignment: a member named `__proto__` must stay a member.
    Object.defineProperty(out, key, { value: clean, enumerable: true, writable: true, configurable: true });
    kept++;
  }
  if (more > 0) out['…'] = `[${more} more members]`;
  return out;
}
