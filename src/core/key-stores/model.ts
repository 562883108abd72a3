/**
 * Custom key stores in the KMS domain's own words. String unions hold the wire values, as in
 * core/model.ts, so records, requests and responses share them unchanged.
 */

export const CUSTOM_KEY_STORE_TYPES = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
/** `AWS_CLOUDHSM`: a token of an HSM the server was configured with. `EXTERNAL_KEY_STORE`: an XKS proxy. */
export type CustomKeyStoreType = (typeof CUSTOM_KEY_STORE_TYPES)[number];

export const CONNECTION_STATES = ['CONNECTED', 'CONNECTING', 'DISCONNECTED', 'DISCONNECTING', 'FAILED'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** AWS's `ConnectionErrorCodeType`; set only while a store is FAILED. */
export const CONNECTION_ERROR_CODES = [
  'INVALID_CREDENTIALS',
  'CLUSTER_NOT_FOUND',
  'NETWORK_ERRORS',
  'INTERNAL_ERROR',
  'INSUFFICIENT_CLOUDHSM_HSMS',
  'USER_LOCKED_OUT',
  'USER_NOT_FOUND',
  'USER_LOGGED_IN',
  'SUBNET_NOT_FOUND',
  'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET',
  'XKS_PROXY_ACCESS_DENIED',
  'XKS_PROXY_NOT_REACHABLE',
  'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND',
  'XKS_PROXY_INVALID_RESPONSE',
  'XKS_PROXY_INVALID_CONFIGURATION',
  'XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION',
  'XKS_PROXY_TIMED_OUT',
  'XKS_PROXY_INVALID_TLS_CONFIGURATION',
] as const;
export type ConnectionErrorCode = (typeof CONNECTION_ERROR_CODES)[number];

export const XKS_PROXY_CONNECTIVITY = ['PUBLIC_ENDPOINT', 'VPC_ENDPOINT_SERVICE'] as const;
export type XksProxyConnectivity = (typeof XKS_PROXY_CONNECTIVITY)[number];

/** How an external key store reaches its proxy. The secret is sealed by the default store's HSM key. */
export interface XksProxySettings {
  /** `https://host[:port]` (plain `http://` only for loopback addresses). */
  uriEndpoint: string;
  /** `[/prefix]/kms/xks/v1` */
  uriPath: string;
  connectivity: XksProxyConnectivity;
  accessKeyId: string;
  sealedSecretAccessKey: Uint8Array;
}

/** One custom key store as the metadata store holds it. */
export interface CustomKeyStoreRecord {
  /** `cks-` and 17 hex digits, as AWS. */
  customKeyStoreId: string;
  name: string;
  type: CustomKeyStoreType;
  creationDate: Date;
  connectionState: ConnectionState;
  /** Only while FAILED. */
  connectionErrorCode?: ConnectionErrorCode | undefined;
  /** AWS_CLOUDHSM: the cluster (a configured token) this store uses; one store per cluster. */
  cloudHsmClusterId?: string | undefined;
  /** AWS_CLOUDHSM: the certificate given at creation, kept and shown as AWS does. */
  trustAnchorCertificate?: string | undefined;
  /** AWS_CLOUDHSM: the token user PIN (KeyStorePassword), sealed by the default store's HSM key. */
  sealedPassword?: Uint8Array | undefined;
  /** EXTERNAL_KEY_STORE only. */
  xksProxy?: XksProxySettings | undefined;
  /** Incremented by every update; updates are optimistic, as for keys. */
  revision: number;
}

/** Which custom key store a KMS key lives in (keys of the default store have none). */
export interface KeyStoreKeyRecord {
  keyId: string;
  customKeyStoreId: string;
  /** EXTERNAL_KEY_STORE: the key's id at the proxy. */
  xksKeyId?: string | undefined;
}

/** A SigV4 credential of hsmkms's own XKS proxy endpoint, for one URI path prefix. */
export interface XksCredentialRecord {
  /** 26 characters of A–Z and 2–7, as AWS requires of XKS access key ids. */
  accessKeyId: string;
  /** Without leading or trailing slashes; `''` for `/kms/xks/v1` itself. */
  uriPrefix: string;
  /** The secret access key sealed by the backend (never stored in plaintext). */
  sealedSecret: Uint8Array;
  createdAt: Date;
}

/** The AWS origins of keys that live in a custom key store. */
export function isCustomKeyStoreOrigin(origin: string): origin is 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE' {
  return origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE';
}

