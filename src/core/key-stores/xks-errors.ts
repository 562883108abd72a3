/**
 * What a failed call to an XKS proxy means for the KMS operation that made it, as the XKS proxy
 * API specification's table "KMS Considerations" lays it out: the exception depends on the
 * operation (creating or updating a store, connecting it, creating a key, cryptography), the
 * message on what the proxy did. The proxy's own errorMessage is never passed on.
 */
import { KmsError, type KmsErrorName } from '../errors.js';
import type { ConnectionErrorCode } from './model.js';
import { XksProxyCallError, type XksCallFailure } from './ports.js';

const MESSAGES: Readonly<Record<XksCallFailure, string>> = {
  UNREACHABLE:
    'hsmkms cannot communicate with the external key store proxy. If you see this error repeatedly, verify that the proxy is active and connected to the network, and that its endpoint URI is correct.',
  TIMED_OUT: 'The external key store proxy did not respond in time. Retry the request; if you see this error repeatedly, report it to your proxy administrator.',
  TLS: 'hsmkms cannot establish a TLS connection to the external key store proxy. Verify its TLS configuration, including its certificate.',
  INVALID_RESPONSE: 'hsmkms cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your proxy administrator.',
  ValidationException: 'hsmkms cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your proxy administrator.',
  InvalidStateException:
    'The external key associated with this KMS key is not enabled in the external key manager. Enable it there and retry the request.',
  InvalidCiphertextException:
    'The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid.',
  InvalidKeyUsageException:
    'The external key associated with this KMS key does not support the requested operation. Enable the operation on the key in your external key manager and retry.',
  AuthenticationFailedException:
    'The external key store proxy rejected the request because it could not authenticate hsmkms. Verify the proxy authentication credential of the external key store and update it if necessary.',
  AccessDeniedException: 'The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for it.',
  KeyNotFoundException:
    'The external key associated with this KMS key was not found in its external key manager. If its external key ID is wrong, create a new KMS key with the right one.',
  InvalidUriPathException:
    'The external key store proxy rejected the request because of an invalid URI path. Verify the URI path of the external key store and update it if necessary.',
  ThrottlingException: 'The external key store proxy rejected the request because of a very high request rate. Reduce the rate of calls using keys in this store.',
  InternalException:
    'The external key store proxy cannot communicate with the external key manager. Verify that the proxy configuration is correct and that the key manager is available.',
  UnsupportedOperationException:
    'The external key store proxy does not support the requested operation. If you see this error repeatedly, report it to your proxy administrator.',
  DependencyTimeoutException:
    'The external key store proxy did not respond in time. Retry the request; if you see this error repeatedly, report it to your proxy administrator.',
};

/** Create/UpdateCustomKeyStore (which call GetHealthStatus). */
const STORE_EXCEPTIONS: Partial<Record<XksCallFailure, KmsErrorName>> = {
  AuthenticationFailedException: 'XksProxyIncorrectAuthenticationCredentialException',
  InvalidUriPathException: 'XksProxyInvalidConfigurationException',
  UNREACHABLE: 'XksProxyUriUnreachableException',
  TIMED_OUT: 'XksProxyUriUnreachableException',
  TLS: 'XksProxyUriUnreachableException',
  DependencyTimeoutException: 'XksProxyUriUnreachableException',
  ThrottlingException: 'XksProxyUriUnreachableException',
};

/** ConnectCustomKeyStore: the store becomes FAILED with this code. */
const CONNECTION_CODES: Partial<Record<XksCallFailure, ConnectionErrorCode>> = {
  AuthenticationFailedException: 'INVALID_CREDENTIALS',
  AccessDeniedException: 'XKS_PROXY_ACCESS_DENIED',
  InvalidUriPathException: 'XKS_PROXY_INVALID_CONFIGURATION',
  UNREACHABLE: 'XKS_PROXY_NOT_REACHABLE',
  TIMED_OUT: 'XKS_PROXY_TIMED_OUT',
  DependencyTimeoutException: 'XKS_PROXY_TIMED_OUT',
  TLS: 'XKS_PROXY_INVALID_TLS_CONFIGURATION',
  ThrottlingException: 'XKS_PROXY_NOT_REACHABLE',
};

/** CreateKey (which calls GetKeyMetadata). */
const CREATE_KEY_EXCEPTIONS: Partial<Record<XksCallFailure, KmsErrorName>> = {
  KeyNotFoundException: 'XksKeyNotFoundException',
  InvalidStateException: 'XksKeyInvalidConfigurationException',
  InvalidKeyUsageException: 'XksKeyInvalidConfigurationException',
  AccessDeniedException: 'KMSInvalidStateException',
};

function failureOf(error: unknown): XksCallFailure {
  return error instanceof XksProxyCallError ? error.failure : 'INVALID_RESPONSE';
}

/** For Create/UpdateCustomKeyStore. */
export function storeError(error: unknown): KmsError {
  const failure = failureOf(error);
  return new KmsError(STORE_EXCEPTIONS[failure] ?? 'XksProxyInvalidResponseException', MESSAGES[failure]);
}

/** For ConnectCustomKeyStore. */
export function connectionCode(error: unknown): ConnectionErrorCode {
  return CONNECTION_CODES[failureOf(error)] ?? 'XKS_PROXY_INVALID_RESPONSE';
}

/** For CreateKey. */
export function createKeyError(error: unknown): KmsError {
  const failure = failureOf(error);
  return new KmsError(CREATE_KEY_EXCEPTIONS[failure] ?? 'CustomKeyStoreInvalidStateException', MESSAGES[failure]);
}

/** For Encrypt, Decrypt, ReEncrypt, GenerateDataKey…: always KMSInvalidStateException. */
export function cryptoError(error: unknown): KmsError {
  return new KmsError('KMSInvalidStateException', MESSAGES[failureOf(error)]);
}

/** A message for a connection that failed with this code (logs, and the error of a later use). */
export function connectionMessage(error: unknown): string {
  return MESSAGES[failureOf(error)];
}
