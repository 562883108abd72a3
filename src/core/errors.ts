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
  | 'QuorumApprovalRequiredException'
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
  | 'XksProxyVpcEndpointServiceNotFoundException'
  // the private CA's HsmKms.*Certificate operations (AWS Private CA's names; src/ca/errors.ts)
  | 'InvalidArgsException'
  | 'MalformedCSRException'
  | 'ResourceNotFoundException'
  | 'ResourceAlreadyExistsException'
  | 'RequestAlreadyProcessedException'
  | 'InvalidStateException'
  | 'RequestFailedException'
  // HsmKms.LookupAuditEvents (CloudTrail LookupEvents' names)
  | 'InvalidLookupAttributesException'
  | 'InvalidMaxResultsException'
  | 'InvalidNextTokenException'
  | 'InvalidTimeRangeException';

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
  /**
   * Members the error body carries besides `__type` and `message` (e.g. `ApprovalRequestId` of
   * QuorumApprovalRequiredException); as safe to show as the message.
   */
  readonly fields: Readonly<Record<string, string>> | undefined;
  constructor(
    readonly type: KmsErrorName,
    message: string,
    options?: { cause?: unknown; fields?: Record<string, string> },
  ) {
    super(message, options);
    this.name = type;
    this.httpStatus = STATUS[type] ?? 400;
    this.fields = options?.fields;
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
 * What kind of failure a key backend reports, in the core's own terms (no HSM vocabulary):
 * - `data`: the caller's input cannot be processed (bad GCM tag, bad padding, material that does
 *   not unwrap, a blob naming a key of the wrong type). The backend is fine.
 * - `unavailable`: the key store cannot be reached or keeps failing after recovery; retry later.
 * - `timeout`: the key store did not answer in time; retry later.
 * - `missing`: the key material is not in the key store (a token object that was deleted or
 *   changed outside hsmkms); retrying cannot help.
 * - `credentials`: the key store refuses this service's own login (the HSM's PIN changed, its user
 *   is locked): no key can be used until an operator acts. The backend logs the refusal when it
 *   happens (rate-limited after), so each caller who meets it is not logged again.
 * - `internal`: anything else (configuration, a missing mechanism, a bug).
 */
export type BackendErrorKind = 'data' | 'unavailable' | 'timeout' | 'missing' | 'credentials' | 'internal';

/**
 * The error a {@link KeyBackend} throws. Backends subclass it to carry their own detail (the
 * PKCS#11 backend adds the CKR code and the Cryptoki function); the core reads only `kind`, and
 * `logFields()` for the log. Its message is for logs, never for clients.
 */
export class BackendError extends Error {
  constructor(
    readonly kind: BackendErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackendError';
  }

  /** What the log may hold about this failure (never secrets). */
  logFields(): Record<string, unknown> {
    return { kind: this.kind, message: this.message };
  }
}
