/**
 * The interfaces the KMS core depends on. Concrete classes (PKCS#11 backend, SQL stores, the
 * HTTP adapter) implement or use these; the core never imports them.
 */
import type { StoreError } from './store-error.js';
import type {
  AccessKeyRecord,
  AliasRecord,
  DataKeyPairSpec,
  EncryptionAlgorithm,
  ImportTokenRecord,
  ImportedKeyMaterial,
  KeyMaterialVersion,
  KeyRecord,
  KeySpec,
  KeyUsage,
  MacAlgorithm,
  MaterialDestruction,
  MessageType,
  PrincipalRecord,
  SigningAlgorithm,
  Tag,
  WrappingAlgorithm,
  WrappingKeySpec,
} from './model.js';
import type { JsonObject, RequestContext } from './operation.js';
import type { AuthorizationRepository } from './authorization/repository.js';
import type { GrantRecord, GrantRepository } from './grants/grant.js';
import type { QuorumRepository } from './quorum/quorum.js';
import type { CustomKeyStoreRepository } from './key-stores/ports.js';
import type { MultiRegionRepository } from './multi-region/ports.js';

// ───────────────────────────── key backend ─────────────────────────────

/**
 * Addresses one key material version for the backend. `id` is unique and stable per version
 * (the backend uses it to cache the unwrapped handle); `wrapped` is the backend's own blob.
 */
export interface MaterialRef {
  readonly id: string;
  readonly keySpec: KeySpec;
  readonly wrapped: Uint8Array;
}

/** New key material: the backend's wrapped blob, and for asymmetric keys the public key. */
export interface GeneratedMaterial {
  wrapped: Buffer;
  /** SubjectPublicKeyInfo, DER. */
  publicKey?: Buffer;
}

export interface SymmetricCiphertext {
  /** 12-byte GCM IV (chosen by the HSM on tokens that insist, by us otherwise). */
  iv: Buffer;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ciphertext: Buffer;
}

export interface DataKeyPair {
  /** PKCS#8 DER. Leaves the service only encrypted, or to the caller who asked for it. */
  privateKey: Buffer;
  /** SubjectPublicKeyInfo DER. */
  publicKey: Buffer;
}

/**
 * Where key material lives and is used. Everything here runs inside the HSM except what is
 * public by nature (public-key operations may run in software).
 *
 * Errors: implementations throw {@link BackendError}s. Kind `data` means the caller's input was
 * wrong (a GCM tag mismatch, a blob naming a key of another type) and must never be caused by, or
 * cause, a fault of the key store; `timeout` and `unavailable` are the store's; `internal` is
 * everything else.
 */
export interface KeyBackend {
  /**
   * Generates material for a CMK (AES-256, RSA, EC, HMAC secret) inside the token. `usage`
   * KEY_AGREEMENT (EC only) makes material that can derive (ECDH) and never sign.
   */
  generateKeyMaterial(spec: KeySpec, usage?: KeyUsage): Promise<GeneratedMaterial>;
  /** AES-256-GCM with the given additional authenticated data. */
  encryptSymmetric(key: MaterialRef, plaintext: Uint8Array, aad: Uint8Array): Promise<SymmetricCiphertext>;
  decryptSymmetric(key: MaterialRef, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** RSAES-OAEP with a public key, as KMS Encrypt does for RSA keys. */
  encryptAsymmetric(key: MaterialRef & { publicKey: Uint8Array }, algorithm: EncryptionAlgorithm, plaintext: Uint8Array): Promise<Buffer>;
  decryptAsymmetric(key: MaterialRef, algorithm: EncryptionAlgorithm, ciphertext: Uint8Array): Promise<Buffer>;
  /** Signs a message (RAW) or a digest (DIGEST). ECDSA signatures are DER-encoded, as KMS returns them. */
  sign(key: MaterialRef, algorithm: SigningAlgorithm, message: Uint8Array, messageType: MessageType): Promise<Buffer>;
  /** `false` for a signature that does not verify; throws only for HSM faults. */
  verify(
    key: MaterialRef & { publicKey: Uint8Array },
    algorithm: SigningAlgorithm,
    message: Uint8Array,
    messageType: MessageType,
    signature: Uint8Array,
  ): Promise<boolean>;
  generateMac(key: MaterialRef, algorithm: MacAlgorithm, message: Uint8Array): Promise<Buffer>;
  /**
   * ECDH (CKD_NULL) of KEY_AGREEMENT material with a peer's public key (SubjectPublicKeyInfo DER,
   * on the key's curve: the caller checked): the raw shared secret, the x-coordinate of the shared point.
   */
  deriveSharedSecret(key: MaterialRef, peerPublicKey: Uint8Array): Promise<Buffer>;
  /** Random bytes from the token's RNG. */
  generateRandom(length: number): Promise<Buffer>;
  /** A key pair for GenerateDataKeyPair (plaintext private key by design). */
  generateDataKeyPair(spec: DataKeyPairSpec): Promise<DataKeyPair>;
  /** An RSA key pair in the HSM for GetParametersForImport. */
  createWrappingKeyPair(spec: WrappingKeySpec): Promise<GeneratedMaterial & { publicKey: Buffer }>;
  /**
   * Unwraps customer key material encrypted under a wrapping key into the HSM and returns it
   * as this backend's wrapped blob. Throws a BackendError of kind `data` when it cannot be unwrapped.
   */
  importKeyMaterial(
    wrappingKey: MaterialRef,
    algorithm: WrappingAlgorithm,
    encryptedMaterial: Uint8Array,
    target: KeySpec,
  ): Promise<GeneratedMaterial>;
  /**
   * Why this key store cannot hold keys of `spec` at all (a token without EdDSA mechanisms cannot
   * hold ECC_NIST_EDWARDS25519 keys), as a sentence for the caller; undefined when it can.
   */
  keySpecUnavailable(spec: KeySpec): string | undefined;
  /**
   * Why this key store cannot sign or verify with `algorithm` (a token without Ed25519ph cannot do
   * ED25519_PH_SHA_512), as a sentence for the caller; undefined when it can.
   */
  signingAlgorithmUnavailable(algorithm: SigningAlgorithm): Promise<string | undefined>;
  /** Drops any cached handle for this material (after deletion). */
  forget(id: string): void;
  /**
   * Destroys material whose key lives in the token itself rather than in its blob (EdDSA keys: see
   * the PKCS#11 backend's key-specs.ts), once the store no longer references it; nothing for a
   * wrapped blob, which dies with its row. Also drops cached handles, as {@link forget}.
   */
  destroyMaterial(ref: MaterialRef): Promise<void>;
  /**
   * True when material of `spec` is an object in the key store of its own (EdDSA keys), which
   * outlives its records until {@link destroyMaterial} destroys it; false for a wrapped blob.
   */
  materialIsObject(spec: KeySpec): boolean;
  /** Seals a service secret (e.g. a SigV4 secret access key) under a key that never leaves the HSM. */
  sealSecret(plaintext: Uint8Array): Promise<Buffer>;
  unsealSecret(sealed: Uint8Array): Promise<Buffer>;
  /** A cheap call that proves the token answers. */
  health(): Promise<{ ok: boolean; detail?: string }>;
  close(): Promise<void>;
}

// ───────────────────────────── metadata store ─────────────────────────────

/** One page of a listing, in the listing's order. */
export interface Page<T> {
  items: T[];
  /** True when items follow the last one (the caller resumes after it). */
  more: boolean;
}

/** Keys are listed in (creationDate, keyId) order; a listing resumes after this key. */
export interface KeyListPosition {
  creationDate: Date;
  keyId: string;
}

/** Aliases are listed by name; a listing resumes after this one. */
export interface AliasListPosition {
  aliasName: string;
}

/**
 * Metadata: everything except key material in plaintext. Every method may be called inside
 * {@link MetadataStore.transaction}; outside one, each call is its own transaction.
 *
 * Errors: a duplicate on insert, or a row missing that an update needs, is a {@link StoreError}
 * (`conflict`, `not-found`); the core words it for clients. Anything else is the store's fault.
 */
export interface MetadataRepository extends AuthorizationRepository, GrantRepository, QuorumRepository {
  getKey(keyId: string): Promise<KeyRecord | undefined>;
  /** Inserts; throws StoreError `conflict` on a duplicate id. */
  insertKey(key: KeyRecord): Promise<void>;
  /** Writes `key` if the stored revision equals `key.revision - 1`; returns false otherwise. */
  updateKey(key: KeyRecord): Promise<boolean>;
  /** Removes the key and everything that hangs off it (versions, aliases, tags). */
  deleteKey(keyId: string): Promise<void>;
  /** Up to `limit` keys in (creationDate, keyId) order, after `after` when given. */
  listKeys(limit: number, after?: KeyListPosition): Promise<Page<KeyRecord>>;
  /**
   * Keys the scheduler can act on at `now`: PendingDeletion keys past their deletionDate,
   * Enabled keys with rotation on past their nextRotationDate, imported material past its
   * validTo (the key's, or a material's pending rotation). In (creationDate, keyId) order, after `after` when given (so a pass can go past keys whose
   * work keeps failing).
   */
  listKeysDue(now: Date, limit: number, after?: KeyListPosition): Promise<KeyRecord[]>;
  /** The number of keys, or of keys of `keySpec`. */
  countKeys(keySpec?: KeySpec): Promise<number>;

  getKeyVersion(keyId: string, versionId: string): Promise<KeyMaterialVersion | undefined>;
  /** Oldest first. */
  listKeyVersions(keyId: string): Promise<KeyMaterialVersion[]>;
  insertKeyVersion(version: KeyMaterialVersion): Promise<void>;
  deleteKeyVersions(keyId: string): Promise<void>;
  /** Removes one version's material (imported material deleted or expired). */
  deleteKeyVersion(keyId: string, versionId: string): Promise<void>;

  /** The imported materials of an EXTERNAL key, in import order (core/imported-materials.ts). */
  listImportedMaterials(keyId: string): Promise<ImportedKeyMaterial[]>;
  /** Inserts or replaces the record of one imported material. */
  putImportedMaterial(material: ImportedKeyMaterial): Promise<void>;
  deleteImportedMaterial(keyId: string, versionId: string): Promise<void>;

  getAlias(aliasName: string): Promise<AliasRecord | undefined>;
  /** Throws StoreError `conflict` when the name is taken. */
  insertAlias(alias: AliasRecord): Promise<void>;
  /** Throws StoreError `not-found` when no alias has the name. */
  updateAlias(alias: AliasRecord): Promise<void>;
  deleteAlias(aliasName: string): Promise<void>;
  /** Up to `limit` aliases (of one key, or all) in name order, after `after` when given. */
  listAliases(options: { keyId?: string; limit: number; after?: AliasListPosition }): Promise<Page<AliasRecord>>;
  countAliases(keyId: string): Promise<number>;

  getTags(keyId: string): Promise<Tag[]>;
  /** Adds or overwrites. */
  putTags(keyId: string, tags: Tag[]): Promise<void>;
  deleteTags(keyId: string, tagKeys: string[]): Promise<void>;

  getPrincipal(arn: string): Promise<PrincipalRecord | undefined>;
  insertPrincipal(principal: PrincipalRecord): Promise<void>;
  listPrincipals(): Promise<PrincipalRecord[]>;
  getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined>;
  insertAccessKey(accessKey: AccessKeyRecord): Promise<void>;

  getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined>;
  insertImportToken(token: ImportTokenRecord): Promise<void>;
  deleteImportTokens(keyId: string): Promise<void>;
  deleteExpiredImportTokens(now: Date): Promise<number>;

  /** Records a token object to destroy (core/material-destruction.ts); throws StoreError `conflict` on a duplicate. */
  insertMaterialDestruction(destruction: MaterialDestruction): Promise<void>;
  /**
   * Up to `limit` destructions whose `notBefore` has come, earliest first, then those whose
   * `notBefore` is after `setBackAfter` (no wait is that long: the clock was set back). Never one
   * whose key exists.
   */
  listMaterialDestructionsDue(now: Date, limit: number, setBackAfter?: Date): Promise<MaterialDestruction[]>;
  /**
   * Begins an attempt: raises `attempts` from `attempts` and sets `notBefore` to `retryAt`, only
   * while the row has that count and no key `keyId` exists. False when it did not (another node
   * began it, the key exists, the row is gone): then the caller must not destroy the object.
   */
  claimMaterialDestruction(keyId: string, versionId: string, attempts: number, retryAt: Date): Promise<boolean>;
  /** Removes the record (the object is gone). */
  deleteMaterialDestruction(keyId: string, versionId: string): Promise<void>;
  /**
   * Removes the record only while no attempt has begun on it (`attempts` 0): CreateKey's
   * transaction withdraws what it recorded before. False when an attempt has begun (the key's
   * object may be going).
   */
  withdrawMaterialDestruction(keyId: string, versionId: string): Promise<boolean>;

  /**
   * Inside a transaction, before anything else it locks: waits for and holds the lock named
   * `name` (core/locks.ts) until the transaction ends, so that transactions that read and then
   * write on the strength of what they read (a count under a limit) take turns across nodes.
   * Throws outside a transaction, where no lock could outlive the call.
   */
  holdLock(name: string): Promise<void>;

  /** Custom key stores and XKS proxy credentials (core/key-stores/ports.ts). */
  readonly keyStores: CustomKeyStoreRepository;

  /** Multi-Region keys, region peers and replication jobs (core/multi-region/ports.ts). */
  readonly multiRegion: MultiRegionRepository;
}

export interface MetadataStore extends MetadataRepository {
  /** Runs `fn` atomically: all its writes land, or none do. */
  transaction<T>(fn: (tx: MetadataRepository) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// ───────────────────────────── the rest ─────────────────────────────

export interface Clock {
  now(): Date;
}

/** One audited event (CloudTrail-like). Never carries plaintext, key material or secrets. */
export interface AuditEvent {
  eventTime: Date;
  eventName: string;
  requestId: string;
  principalArn: string;
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
  /** Key ARNs the request touched. */
  resources: string[];
  /** Request parameters with secrets and plaintext removed. */
  requestParameters?: Record<string, unknown> | undefined;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
  /** CloudTrail's `additionalEventData`: e.g. the authorization decision, grant id, quorum ids. */
  additionalEventData?: Record<string, unknown> | undefined;
  /**
   * Who acted when it was not an API caller (absent: the caller `principalArn` names): the
   * service itself (the scheduler; recorded as CloudTrail's `AwsServiceEvent`), or an operator
   * running an offline `hsmkms` command on the data directory with the account root's authority.
   */
  actor?: AuditActor | undefined;
}

/** A non-API actor of an audit event (see {@link AuditEvent.actor}). */
export type AuditActor =
  /** The service's own background work; `invokedBy` is `kms.amazonaws.com`, as CloudTrail writes it. */
  | { type: 'AWSService'; invokedBy: string }
  /** An offline CLI command: the operating-system user and host that ran it, and the command. */
  | { type: 'Operator'; invokedBy: string; userName: string };

/**
 * Audit events are listed newest first, by (time, node, sequence) — time descending, then node id
 * ascending, then sequence descending; a listing resumes after this event.
 */
export interface AuditEventListPosition {
  time: Date;
  nodeId: string;
  sequence: number;
}

/**
 * Where audit events go. The dispatcher awaits `record` before it answers a call, so a sink that
 * makes events durable resolves once the event is on disk and rejects when it cannot be; the
 * call then fails instead of answering without a record.
 */
export interface AuditSink {
  record(event: AuditEvent): Promise<void> | void;
  /** False while events cannot be made durable: the dispatcher refuses calls before running them. Absent: always true. */
  accepting?(): boolean;
  /**
   * True when `record` resolves only once the event is on disk and rejects otherwise, always (a
   * trail that fails closed): what a call notes in its record is then as durable as its answer,
   * and a call may leave the durability of what it did to its record (src/ca/certificate-journal.ts).
   */
  readonly recordsDurably?: boolean;
}

/**
 * Optional backend capability: signing audit digests with a dedicated key pair made in the HSM
 * (ECDSA P-384, private key sensitive and never extractable). Detected at run time; without it
 * the audit trail is hash-chained but unsigned.
 */
export interface AuditSigner {
  /** The verification key, SubjectPublicKeyInfo DER. The key pair is created on first use. */
  auditPublicKey(): Promise<Buffer>;
  /** ECDSA P-384 over SHA-384(payload), made inside the HSM, DER-encoded (as `openssl dgst -sha384 -sign` writes it). */
  signAuditDigest(payload: Uint8Array): Promise<Buffer>;
}

/** What a request is allowed to do. Key policies, grants and IAM policies plug in here. */
export interface AuthorizationRequest {
  principal: PrincipalRecord;
  /** e.g. `kms:Encrypt` */
  action: string;
  /** The key acted on, when there is one. */
  key?: KeyRecord | undefined;
  /** Condition context (`kms:EncryptionContext:…`, `kms:CallerAccount`, …). */
  context: Record<string, string | string[] | undefined>;
  /** For `kms:RetireGrant`: the grant to retire, which itself names who may retire it. */
  grant?: GrantRecord | undefined;
}

export interface Authorizer {
  /**
   * Throws KmsError AccessDeniedException when the request is not allowed. Several requests are
   * the actions one call takes together (ReEncrypt's ReEncryptFrom and ReEncryptTo, UpdateAlias
   * on the alias's old and new key): each must be allowed, and one quorum approval must cover the
   * rules guarding any of them.
   */
  authorize(request: AuthorizationRequest | readonly AuthorizationRequest[]): Promise<void>;
}

/** The call the dispatcher binds an authorizer to: who, how (TLS, source address), what. */
export interface AuthorizedCall {
  /** Registry key: `Encrypt`, `HsmKms.CreatePrincipal`, … */
  operation: string;
  ctx: RequestContext;
  /** The raw request (GrantTokens, the alias the caller named, parameters quorum hashes). */
  input: JsonObject;
}

/** An authorizer for one call, and what it decided, for that call's audit event. */
export interface CallAuthorization {
  authorizer: Authorizer;
  /**
   * The caller as the store has it now (current roles: the SigV4 credential cache may hold older
   * ones); throws UnrecognizedClientException when the principal or its access key is gone. The
   * dispatcher hands operations this record as `ctx.principal`.
   */
  principal(): Promise<PrincipalRecord>;
  /** CloudTrail-style `additionalEventData` (decisions, grant and quorum ids), if any. */
  auditData(): Record<string, unknown> | undefined;
  /** The ARNs of the keys this call was authorized on (or refused on), for the audit record's resources. */
  keyArns(): string[];
}

/** Binds the authorizer to each call; the dispatcher hands operations `{ ...deps, authorizer }`. */
export type AuthorizerBinder = (call: AuthorizedCall) => CallAuthorization;

/** Structured logger (pino's shape). Never give it plaintext, key material, PINs or secrets. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * A store that can let the reads of one call share one freshness check (the SQLite store checks
 * whether anything was committed before serving cached rows; inside a scope it checks once).
 * Reads inside `fn` see every commit made before `fn` began, and the calls' own writes.
 */
export interface RequestReadScope {
  inRequestScope<T>(fn: () => Promise<T>): Promise<T>;
}
