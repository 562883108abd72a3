/**
 * Errors of the XKS proxy API, with the HTTP status the specification gives each ("External Key
 * Store (XKS) Proxy API Specification" v1.0, Error codes). On the wire: one-line JSON
 * `{"errorName","errorMessage"}`; messages are printable ASCII under 512 characters and never
 * carry plaintext, keys, secrets or CKR codes.
 */

export const XKS_ERROR_STATUS = {
  ValidationException: 400,
  InvalidStateException: 400,
  InvalidCiphertextException: 400,
  InvalidKeyUsageException: 400,
  AuthenticationFailedException: 401,
  AccessDeniedException: 403,
  KeyNotFoundException: 404,
  InvalidUriPathException: 404,
  ThrottlingException: 429,
  InternalException: 500,
  UnsupportedOperationException: 501,
  DependencyTimeoutException: 503,
} as const;

export type XksErrorName = keyof typeof XKS_ERROR_STATUS;

/** An error an XKS client (AWS KMS, or hsmkms's own external key stores) is meant to see. */
export class XksError extends Error {
  readonly status: number;
  constructor(
    readonly errorName: XksErrorName,
    message: string,
  ) {
    super(message);
    this.name = errorName;
    this.status = XKS_ERROR_STATUS[errorName];
  }

  /** The wire body: printable ASCII, at most 511 characters of message. */
  toJSON(): { errorName: XksErrorName; errorMessage: string } {
    return { errorName: this.errorName, errorMessage: this.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 511) };
  }
}

export const xksError = {
  validation: (message: string) => new XksError('ValidationException', message),
  keyNotFound: (keyId: string) => new XksError('KeyNotFoundException', `No key with the id ${keyId} is in the external key manager.`),
  keyUsage: (message: string) => new XksError('InvalidKeyUsageException', message),
  ciphertext: () =>
    new XksError(
      'InvalidCiphertextException',
      'The ciphertext, initialization vector, additional authenticated data or authentication tag is corrupted, missing, or otherwise invalid.',
    ),
  internal: (message = 'The external key manager could not complete the request.') => new XksError('InternalException', message),
};
