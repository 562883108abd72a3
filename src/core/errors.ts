/**
 * KMS errors: each carries the AWS exception name clients dispatch on (`__type` on the wire)
 * and the HTTP status AWS uses for it. The core throws only these; the HTTP adapter writes them.
 */

/** AWS KMS exception names (plus the protocol-level ones the adapter needs). */
export type KmsErrorName =
  | 'AccessDeniedException'
  | 'AlreadyExistsException'
  | 'CustomKeyStoreNotFoundException'
  | 'DependencyTimeoutException'
  | 'DisabledException'
  | 'DryRunOperationException'
  | 'ExpiredImportTokenException'
  | 'IncorrectKeyException'
  | 'IncorrectKeyMaterialException'
  | 'IncorrectTrustAnchorException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidCiphertextException'
  | 'InvalidGrantIdException'
  | 'InvalidGrantTokenException'
  | 'InvalidImportTokenException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'KMSInternalException'
  | 'KMSInvalidMacException'
  | 'KMSInvalidSignatureException'
  | 'KMSInvalidStateException'
  | 'KeyUnavailableException'
  | 'LimitExceededException'
  | 'MalformedPolicyDocumentException'
  | 'NotFoundException'
  | 'TagException'
  | 'UnsupportedOperationException'
  | 'ValidationException'
  | 'SerializationException'
  | 'UnknownOperationException'
  | 'MissingAuthenticationTokenException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException'
  | 'IncompleteSignatureException'
  | 'ThrottlingException'
  // custom key stores
  | 'CloudHsmClusterInUseException'
  | 'CloudHsmClusterInvalidConfigurationException'
  | 'CloudHsmClusterNotActiveException'
  | 'CloudHsmClusterNotFoundException'
  | 'CloudHsmClusterNotRelatedException'
  | 'CustomKeyStoreHasCMKsException'
  | 'CustomKeyStoreInvalidStateException'
  | 'CustomKeyStoreNameInUseException'
  | 'XksKeyAlreadyInUseException'
  | 'XksKeyInvalidConfigurationException'
  | 'XksKeyNotFoundException'
  | 'XksProxyIncorrectAuthenticationCredentialException'
  | 'XksProxyInvalidConfigurationException'
  | 'XksProxyInvalidResponseException'
  | 'XksProxyUriEndpointInUseException'
  | 'XksProxyUriInUseException'
  | 'XksProxyUriUnreachableException'
  | 'XksProxyVpcEndpointServiceInUseException'
  | 'XksProxyVpcEndpointServiceInvalidConfigurationException'
  | 'XksProxyVpcEndpointServiceNotFoundException';

const STATUS: Partial<Record<KmsErrorName, number>> = {
  KMSInternalException: 500,
  DependencyTimeoutException: 503,
  KeyUnavailableException: 500,
  AccessDeniedException: 400,
  MissingAuthenticationTokenException: 403,
  UnrecognizedClientException: 400,
  InvalidSignatureException: 400,
  IncompleteSignatureException: 400,
  UnknownOperationException: 400,
  ThrottlingException: 400,
};

/** An error a KMS client is meant to see. `message` must be safe to show: no secrets, no CKR codes. */
export class KmsError extends Error {
  readonly httpStatus: number;
  constructor(
    readonly type: KmsErrorName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = type;
    this.httpStatus = STATUS[type] ?? 400;
  }
}

/** Shorthand constructors for the errors operations throw most. */
export const kmsError = {
  validation: (message: string) => new KmsError('ValidationException', message),
  notFound: (message: string) => new KmsError('NotFoundException', message),
  invalidState: (message: string) => new KmsError('KMSInvalidStateException', message),
  disabled: (message: string) => new KmsError('DisabledException', message),
  invalidKeyUsage: (message: string) => new KmsError('InvalidKeyUsageException', message),
  invalidCiphertext: (message = '') => new KmsError('InvalidCiphertextException', message),
  accessDenied: (message: string) => new KmsError('AccessDeniedException', message),
  internal: (message = 'An internal error occurred.', cause?: unknown) =>
    new KmsError('KMSInternalException', message, { cause }),
};

/**
 * The backend's error for a failed HSM call. The CKR name and the function go to logs only;
 * core operations translate it into a KmsError (usually KMSInternalException or
 * KeyUnavailableException), or recognise `kind` for data errors such as a bad GCM tag.
 */
export class HsmError extends Error {
  constructor(
    /** e.g. `CKR_ENCRYPTED_DATA_INVALID` */
    readonly code: string,
    /** numeric CK_RV */
    readonly ckr: number,
    /** the Cryptoki function, e.g. `C_Decrypt` */
    readonly fn: string,
    /** `data`: the input was wrong (bad tag, bad padding); `session`/`device`: the HSM side failed. */
    readonly kind: 'data' | 'session' | 'device' | 'config' | 'other',
    message?: string,
  ) {
    super(message ?? `${fn} failed: ${code}`);
    this.name = 'HsmError';
  }
}
