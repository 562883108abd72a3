/**
 * What the custom key store code in the core needs from the outside: its part of the metadata
 * store, the HSM tokens a token-backed store connects to, and (for external key stores) a client
 * of an XKS proxy. The PKCS#11 backend, the SQL stores and the HTTP client implement these.
 */
import type { Page, SymmetricCiphertext } from '../ports.js';
import type {
  ConnectionErrorCode,
  CustomKeyStoreRecord,
  KeyStoreKeyRecord,
  XksCredentialRecord,
} from './model.js';

/** Custom key stores are listed in (creationDate, customKeyStoreId) order; a listing resumes after this one. */
export interface KeyStoreListPosition {
  creationDate: Date;
  customKeyStoreId: string;
}

/**
 * Custom key stores, which store holds which key, and the XKS proxy credentials, in the
 * metadata store. Reached as `MetadataRepository.keyStores`, so every method also runs inside
 * a `MetadataStore.transaction`.
 */
export interface CustomKeyStoreRepository {
  getCustomKeyStore(customKeyStoreId: string): Promise<CustomKeyStoreRecord | undefined>;
  getCustomKeyStoreByName(name: string): Promise<CustomKeyStoreRecord | undefined>;
  /** Up to `limit`, oldest first as AWS lists them, after `after` when given. */
  listCustomKeyStores(limit: number, after?: KeyStoreListPosition): Promise<Page<CustomKeyStoreRecord>>;
  countCustomKeyStores(): Promise<number>;
  /** Inserts; throws StoreError `conflict` (custom-key-store) on a duplicate id, name or cluster. */
  insertCustomKeyStore(store: CustomKeyStoreRecord): Promise<void>;
  /** Writes `store` if the stored revision equals `store.revision - 1`; returns false otherwise. */
  updateCustomKeyStore(store: CustomKeyStoreRecord): Promise<boolean>;
  deleteCustomKeyStore(customKeyStoreId: string): Promise<void>;

  /** The store a key lives in; undefined for keys of the default store. */
  getKeyStoreKey(keyId: string): Promise<KeyStoreKeyRecord | undefined>;
  /** Records that a key lives in a custom key store (removed with the key); StoreError `conflict` when the key or its external key is bound already. */
  insertKeyStoreKey(record: KeyStoreKeyRecord): Promise<void>;
  countKeysInCustomKeyStore(customKeyStoreId: string): Promise<number>;
  /** The KMS key that uses an external key, if any (each external key backs one KMS key). */
  findKeyByXksKeyId(customKeyStoreId: string, xksKeyId: string): Promise<KeyStoreKeyRecord | undefined>;

  getXksCredential(accessKeyId: string): Promise<XksCredentialRecord | undefined>;
  listXksCredentials(): Promise<XksCredentialRecord[]>;
  insertXksCredential(credential: XksCredentialRecord): Promise<void>;
  deleteXksCredential(accessKeyId: string): Promise<boolean>;
}

/** A connection attempt or a connected store failed for a reason AWS names with a ConnectionErrorCode. */
export class KeyStoreConnectionError extends Error {
  override readonly name = 'KeyStoreConnectionError';
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The token object behind a KMS key is not in its token (deleted outside hsmkms). */
export class KeyStoreKeyMissingError extends Error {
  override readonly name = 'KeyStoreKeyMissingError';
}

/** A key in a token, addressed as a token-backed key store addresses it. */
export interface TokenKeyRef {
  /** CKA_LABEL: the KMS key id. */
  label: string;
  /** The backend's reference blob returned by {@link ClusterConnection.createKey}. */
  reference: Uint8Array;
}

/** A logged-in connection to a cluster's token: the working half of a CONNECTED AWS_CLOUDHSM store. */
export interface ClusterConnection {
  /**
   * Generates an AES-256 token object in the token (sensitive, never extractable, encrypt and
   * decrypt only) labelled `label`; returns the reference to store with the key.
   */
  createKey(label: string): Promise<Buffer>;
  /** AES-256-GCM in the token. */
  encrypt(key: TokenKeyRef, plaintext: Uint8Array, aad: Uint8Array): Promise<SymmetricCiphertext>;
  /** Throws a BackendError of kind `data` when the tag does not verify. */
  decrypt(key: TokenKeyRef, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Destroys the token object; false when it was not there. */
  destroyKey(key: TokenKeyRef): Promise<boolean>;
  /** Random bytes from the token's RNG (GenerateRandom with a CustomKeyStoreId). */
  generateRandom(length: number): Promise<Buffer>;
  /** Proves the token and the login are still there; the error code when they are not. */
  check(): Promise<ConnectionErrorCode | undefined>;
  /** Closes every session this connection opened. */
  close(): Promise<void>;
}

/** The HSM tokens token-backed key stores can use ("clusters"), by id. */
export interface ClusterTokens {
  /** Ids of the clusters this server may connect to. */
  list(): Promise<string[]>;
  has(clusterId: string): Promise<boolean>;
  /**
   * Finds the cluster's token and logs in as its user with `password`. Throws
   * KeyStoreConnectionError (CLUSTER_NOT_FOUND, INVALID_CREDENTIALS, USER_LOCKED_OUT, …).
   * `password` is asked for again whenever the connection must log in anew.
   */
  connect(clusterId: string, password: () => Promise<string>): Promise<ClusterConnection>;
}

// ───────────────────────── external key stores ─────────────────────────

/** What AWS KMS tells an XKS proxy about the request behind a call (XKS API `requestMetadata`). */
export interface XksRequestMetadata {
  kmsOperation: string;
  kmsRequestId: string;
  awsPrincipalArn?: string | undefined;
  kmsKeyArn?: string | undefined;
}

/**
 * Why a call to an XKS proxy failed: the proxy's own `errorName`, or what went wrong reaching it
 * (`UNREACHABLE`, `TIMED_OUT`, `TLS`) or reading its answer (`INVALID_RESPONSE`).
 */
export type XksCallFailure =
  | 'UNREACHABLE'
  | 'TIMED_OUT'
  | 'TLS'
  | 'INVALID_RESPONSE'
  | 'ValidationException'
  | 'InvalidStateException'
  | 'InvalidCiphertextException'
  | 'InvalidKeyUsageException'
  | 'AuthenticationFailedException'
  | 'AccessDeniedException'
  | 'KeyNotFoundException'
  | 'InvalidUriPathException'
  | 'ThrottlingException'
  | 'InternalException'
  | 'UnsupportedOperationException'
  | 'DependencyTimeoutException';

export class XksProxyCallError extends Error {
  override readonly name = 'XksProxyCallError';
  constructor(
    readonly failure: XksCallFailure,
    message: string,
  ) {
    super(message);
  }
}

/** An XKS ciphertext as the proxy returned it (checked: IV 12/16 bytes, tag 16, metadata ≤ 20). */
export interface XksCiphertext {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  ciphertextMetadata?: Buffer | undefined;
}

/** A client of one XKS proxy (endpoint, path and credential). Every call is bounded in time. */
export interface XksProxyConnection {
  /** GetHealthStatus; the number of key managers and how many are not UNAVAILABLE. */
  health(metadata: XksRequestMetadata): Promise<{ managers: number; available: number }>;
  getKeyMetadata(xksKeyId: string, metadata: XksRequestMetadata): Promise<{ keySpec: string; keyUsage: string[]; keyStatus: string }>;
  /** Encrypt with a CDIV requested and checked; throws XksProxyCallError INVALID_RESPONSE when it does not match. */
  encrypt(xksKeyId: string, plaintext: Buffer, aad: Buffer, metadata: XksRequestMetadata): Promise<XksCiphertext>;
  decrypt(xksKeyId: string, ciphertext: XksCiphertext, aad: Buffer, metadata: XksRequestMetadata): Promise<Buffer>;
  close(): Promise<void>;
}

/** Makes XKS proxy clients (the HTTP adapter implements it). */
export interface XksProxies {
  connect(proxy: { uriEndpoint: string; uriPath: string }, credential: { accessKeyId: string; secretAccessKey: string }): XksProxyConnection;
}
