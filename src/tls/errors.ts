/** Errors of the TLS offload, with a `code` to branch on and a message a person can act on. */
import { ConfigError } from '../config/hsm.js';
import { isAddonError } from '../native/addon.js';

/**
 * A start-up or key problem of the TLS offload. `code` is stable: ERR_TOKEN_NOT_FOUND,
 * CKR_PIN_INCORRECT, ERR_KEY_NOT_FOUND, ERR_KEY_AMBIGUOUS, ERR_CERT_KEY_MISMATCH,
 * ERR_PKCS11_URI, ERR_PKCS11_MODULE, … `ckr`/`fn` are set when a PKCS#11 call failed.
 */
export class HsmTlsError extends Error {
  override readonly name = 'HsmTlsError';
  constructor(
    readonly code: string,
    message: string,
    readonly ckr?: number,
    readonly fn?: string,
  ) {
    super(message);
  }
}

/** Wraps an addon or configuration error, keeping its code and adding what was being done. */
export function toHsmTlsError(error: unknown, doing: string): Error {
  if (error instanceof HsmTlsError) return error;
  if (isAddonError(error)) return new HsmTlsError(error.code, `${doing}: ${error.message}`, error.ckr || undefined, error.fn);
  if (error instanceof ConfigError) return new HsmTlsError('ERR_HSM_CONFIG', `${doing}: ${error.message}`);
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * How a handshake failed in the HSM, by the code Node gives the addon's OpenSSL error reason
 * (engine.cc, RaiseOpenSslError): the HSM did not answer the signature within the call timeout,
 * or refused or failed it.
 */
const HSM_HANDSHAKE_FAILURES = { ERR_SSL_INTERRUPTED_OR_CANCELLED: 'timeout', ERR_SSL_OPERATION_FAIL: 'failed' } as const;

/**
 * Whether a TLS server's `tlsClientError` is the HSM failing the handshake's signature, and how:
 * the server's own problem, worth a log line, unlike the clients' protocol errors (undefined).
 * Its message is the addon's.
 */
export function hsmHandshakeFailure(error: unknown): 'timeout' | 'failed' | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && Object.hasOwn(HSM_HANDSHAKE_FAILURES, code) ? HSM_HANDSHAKE_FAILURES[code as keyof typeof HSM_HANDSHAKE_FAILURES] : undefined;
}
