/**
 * What the custom key store operations share: AWS's field rules and wording, finding a store,
 * the quota, and the `CustomKeyStoresListEntry` rendering.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { KmsError } from '../errors.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { MetadataRepository } from '../ports.js';
import { epochSeconds, optionalEnum, optionalString, requiredEnum, requiredString } from '../validation.js';
import type { KeyStoreConnections } from './connections.js';
import { XKS_PROXY_CONNECTIVITY, type CustomKeyStoreRecord } from './model.js';
import { storeError } from './xks-errors.js';

/** AWS's quota: custom key stores per account and Region. */
export const MAX_CUSTOM_KEY_STORES = 10;

/** `cks-` and 17 hex digits, as AWS writes custom key store ids. */
export function newCustomKeyStoreId(): string {
  return `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

export function requiredStoreId(input: JsonObject): string {
  return requiredString(input, 'CustomKeyStoreId', { min: 1, max: 64 });
}

export function storeName(input: JsonObject, field: 'CustomKeyStoreName' | 'NewCustomKeyStoreName', required: boolean): string | undefined {
  return required ? requiredString(input, field, { min: 1, max: 256 }) : optionalString(input, field, { min: 1, max: 256 });
}

/** KeyStorePassword: the token's user PIN, 7–32 characters as AWS's kmsuser password. Never echoed. */
export function keyStorePassword(input: JsonObject, required: boolean): string | undefined {
  const value = input.KeyStorePassword;
  if (value === undefined || value === null) {
    if (required) throw new KmsError('ValidationException', "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: Member must not be null");
    return undefined;
  }
  if (typeof value !== 'string') throw new KmsError('SerializationException', "Field 'KeyStorePassword' must be a string.");
  if (value.length < 7 || value.length > 32)
    throw new KmsError('ValidationException', "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: Member must have length between 7 and 32");
  return value;
}

/**
 * CloudHsmClusterId: here the id of a cluster configured on the server (`--cluster ID=…`, or the
 * label of a token of the embedded SoftHSM2), 1–32 printable characters; AWS's `cluster-…` format
 * does not apply.
 */
export function clusterId(input: JsonObject, required: boolean): string | undefined {
  const rule = { min: 1, max: 32, pattern: /^[\x20-\x7e]+$/ };
  return required ? requiredString(input, 'CloudHsmClusterId', rule) : optionalString(input, 'CloudHsmClusterId', rule);
}

/** TrustAnchorCertificate: optional here (no AWS cluster certificate to match); if given, a PEM certificate. */
export function trustAnchor(input: JsonObject): string | undefined {
  const value = optionalString(input, 'TrustAnchorCertificate', { min: 1, max: 5000 });
  if (value === undefined) return undefined;
  try {
    new X509Certificate(value);
  } catch {
    throw new KmsError('IncorrectTrustAnchorException', 'The TrustAnchorCertificate is not a PEM-encoded X.509 certificate.');
  }
  return value;
}

/** The store, or CustomKeyStoreNotFoundException. */
export async function resolveStore(repo: MetadataRepository, customKeyStoreId: string): Promise<CustomKeyStoreRecord> {
  const store = await repo.keyStores.getCustomKeyStore(customKeyStoreId);
  if (!store) throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${customKeyStoreId} does not exist in this account and Region.`);
  return store;
}

/** The live side of key stores, which every server has; absent only in cores built without it. */
export function connections(deps: KmsDeps): KeyStoreConnections {
  if (!deps.keyStores) throw new KmsError('UnsupportedOperationException', 'Custom key stores are not enabled on this server.');
  return deps.keyStores;
}

/** CustomKeyStoreInvalidStateException with the state in the message. */
export function invalidState(store: CustomKeyStoreRecord, why: string): KmsError {
  return new KmsError('CustomKeyStoreInvalidStateException', `Custom key store ${store.customKeyStoreId} is ${store.connectionState}: ${why}`);
}

/** A store as `DescribeCustomKeyStores` lists it. Never holds the password or the proxy secret. */
export function customKeyStoreEntry(store: CustomKeyStoreRecord): JsonObject {
  const entry: JsonObject = {
    CustomKeyStoreId: store.customKeyStoreId,
    CustomKeyStoreName: store.name,
    CustomKeyStoreType: store.type,
    ConnectionState: store.connectionState,
    CreationDate: epochSeconds(store.creationDate),
  };
  if (store.connectionState === 'FAILED' && store.connectionErrorCode) entry.ConnectionErrorCode = store.connectionErrorCode;
  if (store.type === 'AWS_CLOUDHSM') {
    if (store.cloudHsmClusterId) entry.CloudHsmClusterId = store.cloudHsmClusterId;
    if (store.trustAnchorCertificate) entry.TrustAnchorCertificate = store.trustAnchorCertificate;
  }
  if (store.xksProxy)
    entry.XksProxyConfiguration = {
      Connectivity: store.xksProxy.connectivity,
      AccessKeyId: store.xksProxy.accessKeyId,
      UriEndpoint: store.xksProxy.uriEndpoint,
      UriPath: store.xksProxy.uriPath,
    };
  return entry;
}

/** Members that belong to the other store type are a ValidationException, naming them. */
export function rejectMembers(input: JsonObject, members: readonly string[], why: string): void {
  const present = members.filter((m) => input[m] !== undefined && input[m] !== null);
  if (present.length > 0) throw new KmsError('ValidationException', `${present.join(', ')} ${present.length === 1 ? 'is' : 'are'} not valid ${why}.`);
}

export const CLOUDHSM_MEMBERS = ['CloudHsmClusterId', 'TrustAnchorCertificate', 'KeyStorePassword'] as const;
export const XKS_MEMBERS = [
  'XksProxyUriEndpoint',
  'XksProxyUriPath',
  'XksProxyVpcEndpointServiceName',
  'XksProxyVpcEndpointServiceOwner',
  'XksProxyAuthenticationCredential',
  'XksProxyConnectivity',
] as const;

/** `https://host[:port]`, as AWS requires; plain `http://` only to a loopback address (tests, same-host proxies). */
const XKS_ENDPOINT = /^(?:https:\/\/[A-Za-z0-9.-]+|http:\/\/(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]))(?::\d{1,5})?$/;
/** `[/prefix]/kms/xks/v1`, letters, digits, `/`, `_` and `-` (AWS's rule, for API version 1). */
const XKS_PATH = /^(?:\/[A-Za-z0-9_-]+)*\/kms\/xks\/v1$/;

export function xksEndpoint(input: JsonObject, required: boolean): string | undefined {
  const value = required ? requiredString(input, 'XksProxyUriEndpoint', { min: 10, max: 128 }) : optionalString(input, 'XksProxyUriEndpoint', { min: 10, max: 128 });
  if (value !== undefined && !XKS_ENDPOINT.test(value))
    throw new KmsError(
      'ValidationException',
      `XksProxyUriEndpoint must be https://HOST[:PORT] with no path (plain http:// only for a loopback address), got '${value}'.`,
    );
  return value;
}

export function xksPath(input: JsonObject, required: boolean): string | undefined {
  const value = required ? requiredString(input, 'XksProxyUriPath', { min: 10, max: 128 }) : optionalString(input, 'XksProxyUriPath', { min: 10, max: 128 });
  if (value !== undefined && !XKS_PATH.test(value))
    throw new KmsError('ValidationException', `XksProxyUriPath must start with / and end with /kms/xks/v1 (letters, digits, /, _ and - only), got '${value}'.`);
  return value;
}

/** An XKS proxy access key id: 20–30 characters of A–Z and 2–7 (AWS's constraint). */
export const XKS_ACCESS_KEY_ID = /^[A-Z2-7]{20,30}$/;

/** XksProxyAuthenticationCredential; messages never echo the secret. */
export function xksCredential(input: JsonObject, required: boolean): { accessKeyId: string; secretAccessKey: string } | undefined {
  const value = input.XksProxyAuthenticationCredential;
  if (value === undefined || value === null) {
    if (required) throw new KmsError('ValidationException', "1 validation error detected: Value at 'xksProxyAuthenticationCredential' failed to satisfy constraint: Member must not be null");
    return undefined;
  }
  if (typeof value !== 'object' || Array.isArray(value)) throw new KmsError('SerializationException', "Field 'XksProxyAuthenticationCredential' must be an object.");
  const { AccessKeyId: accessKeyId, RawSecretAccessKey: secret } = value as Record<string, unknown>;
  if (typeof accessKeyId !== 'string' || !XKS_ACCESS_KEY_ID.test(accessKeyId))
    throw new KmsError('ValidationException', 'XksProxyAuthenticationCredential.AccessKeyId must be 20–30 characters of A–Z and 2–7.');
  if (typeof secret !== 'string' || secret.length < 43 || secret.length > 64 || !/^[A-Za-z0-9/+=]+$/.test(secret))
    throw new KmsError('ValidationException', 'XksProxyAuthenticationCredential.RawSecretAccessKey must be 43–64 characters of a–z, A–Z, 0–9, /, + and =.');
  return { accessKeyId, secretAccessKey: secret };
}

/** XksProxyConnectivity: PUBLIC_ENDPOINT; VPC endpoint services exist only inside AWS. */
export function xksConnectivity(input: JsonObject, required: boolean): 'PUBLIC_ENDPOINT' | undefined {
  const value = required ? requiredEnum(input, 'XksProxyConnectivity', XKS_PROXY_CONNECTIVITY) : optionalEnum(input, 'XksProxyConnectivity', XKS_PROXY_CONNECTIVITY);
  if (value === 'VPC_ENDPOINT_SERVICE' || input.XksProxyVpcEndpointServiceName !== undefined || input.XksProxyVpcEndpointServiceOwner !== undefined)
    throw new KmsError('UnsupportedOperationException', 'VPC_ENDPOINT_SERVICE connectivity needs AWS PrivateLink; hsmkms reaches XKS proxies at a PUBLIC_ENDPOINT.');
  return value;
}

/** Checks a proxy answers GetHealthStatus with these settings (CreateCustomKeyStore, UpdateCustomKeyStore). */
export async function checkXksProxy(
  deps: KmsDeps,
  proxy: { uriEndpoint: string; uriPath: string },
  credential: { accessKeyId: string; secretAccessKey: string },
  kmsOperation: string,
  kmsRequestId: string,
): Promise<void> {
  const xks = connections(deps).xks;
  if (!xks) throw new KmsError('UnsupportedOperationException', 'External key stores are not enabled on this server.');
  const client = xks.connect(proxy, credential);
  try {
    const health = await client.health({ kmsOperation, kmsRequestId }).catch((error: unknown) => {
      throw storeError(error);
    });
    if (health.available === 0)
      throw new KmsError('XksProxyUriUnreachableException', 'The external key store proxy reports every external key manager UNAVAILABLE.');
  } finally {
    await client.close();
  }
}
