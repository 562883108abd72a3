/**
 * The one place where pkcs11js errors become {@link HsmError}s, and where each CKR code is
 * classified: every recovery decision of the session pool starts from the class decided here.
 */
import pkcs11js from 'pkcs11js';
import { BackendError, type BackendErrorKind } from '../../core/errors.js';

/**
 * What a return code says about the call and the session it came from.
 * - `data`: the input was wrong; the session is fine.
 * - `input`: the request does not fit the key or mechanism (a ciphertext blob that names an RSA
 *   key reaches AES-GCM as CKR_KEY_TYPE_INCONSISTENT): the caller's fault when the caller chose
 *   the input, a configuration fault otherwise. The session is fine.
 * - `ambiguous`: bad input or a broken session (SoftHSM2 reports a bad GCM tag as
 *   CKR_GENERAL_ERROR). The session is tested with a cheap call before anything is recovered.
 * - `fatal`: the session, its login, an object handle or the device is gone — or says so. The
 *   session is tested; what failed the test is recovered, and the operation retried.
 * - `gone`: as `fatal`, and the session is already closed: the module says so, or the token went
 *   and every session of it with the token. It is forgotten, never closed: an HSM that reuses
 *   session numbers (CloudHSM does) may already have given its number to a new session of another
 *   part of this process (the pool's replacement, the TLS addon, a custom key store's keyring).
 * - `config`: a person must act (wrong PIN, missing mechanism, unsupported attribute).
 *
 * The TLS addon makes the same decisions from native/session-codes.h; test/native/session-codes.test.ts
 * checks that its three lists equal the `gone`, `fatal` and `ambiguous` codes here.
 */
export type CkrClass = 'data' | 'input' | 'ambiguous' | 'fatal' | 'gone' | 'config';

export const CKR_CLASSES: Readonly<Record<string, CkrClass>> = {
  CKR_ENCRYPTED_DATA_INVALID: 'data',
  CKR_ENCRYPTED_DATA_LEN_RANGE: 'data',
  CKR_DATA_INVALID: 'data',
  CKR_DATA_LEN_RANGE: 'data',
  CKR_SIGNATURE_INVALID: 'data',
  CKR_SIGNATURE_LEN_RANGE: 'data',
  CKR_WRAPPED_KEY_INVALID: 'data',
  CKR_WRAPPED_KEY_LEN_RANGE: 'data',
  CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: 'data',
  CKR_TEMPLATE_INCONSISTENT: 'data',
  CKR_ATTRIBUTE_VALUE_INVALID: 'data',
  CKR_DOMAIN_PARAMS_INVALID: 'data',
  CKR_CURVE_NOT_SUPPORTED: 'data',

  CKR_KEY_TYPE_INCONSISTENT: 'input',
  CKR_KEY_FUNCTION_NOT_PERMITTED: 'input',
  CKR_KEY_SIZE_RANGE: 'input',
  CKR_MECHANISM_PARAM_INVALID: 'input',
  CKR_ARGUMENTS_BAD: 'input',

  CKR_GENERAL_ERROR: 'ambiguous',
  CKR_FUNCTION_FAILED: 'ambiguous',

  CKR_SESSION_HANDLE_INVALID: 'gone',
  CKR_SESSION_CLOSED: 'gone',
  CKR_DEVICE_REMOVED: 'gone',
  CKR_TOKEN_NOT_PRESENT: 'gone',

  CKR_USER_NOT_LOGGED_IN: 'fatal',
  CKR_OBJECT_HANDLE_INVALID: 'fatal',
  CKR_KEY_HANDLE_INVALID: 'fatal',
  CKR_OPERATION_ACTIVE: 'fatal',
  CKR_OPERATION_NOT_INITIALIZED: 'fatal',
  CKR_DEVICE_ERROR: 'fatal',
  CKR_DEVICE_MEMORY: 'fatal',
  CKR_TOKEN_NOT_RECOGNIZED: 'fatal',
  CKR_SLOT_ID_INVALID: 'fatal',
  CKR_CRYPTOKI_NOT_INITIALIZED: 'fatal',

  CKR_HOST_MEMORY: 'config',
  CKR_SESSION_COUNT: 'config',
  CKR_PIN_INCORRECT: 'config',
  CKR_PIN_LOCKED: 'config',
  CKR_PIN_LEN_RANGE: 'config',
  CKR_PIN_EXPIRED: 'config',
  CKR_USER_PIN_NOT_INITIALIZED: 'config',
  CKR_MECHANISM_INVALID: 'config',
  CKR_FUNCTION_NOT_SUPPORTED: 'config',
  CKR_ATTRIBUTE_TYPE_INVALID: 'config',
  CKR_ATTRIBUTE_READ_ONLY: 'config',
  CKR_TEMPLATE_INCOMPLETE: 'config',
  CKR_BUFFER_TOO_SMALL: 'config',
};

/**
 * Codes with which a token refuses a login (C_Login): the PIN, or the user, is not what the token
 * accepts now. Calls made without the login fail until an operator acts (kind `credentials`).
 */
export const LOGIN_REFUSED: ReadonlySet<string> = new Set([
  'CKR_PIN_INCORRECT',
  'CKR_PIN_INVALID',
  'CKR_PIN_LEN_RANGE',
  'CKR_PIN_EXPIRED',
  'CKR_PIN_LOCKED',
  'CKR_USER_PIN_NOT_INITIALIZED',
]);

/** The class of a return code; codes nobody listed are treated as needing a person. */
export function classOf(code: string): CkrClass {
  return CKR_CLASSES[code] ?? 'config';
}

/** Whether a return code says the session may be broken (`gone` is `fatal` too). */
export function sessionMayBeBroken(cls: CkrClass): boolean {
  return cls === 'fatal' || cls === 'gone' || cls === 'ambiguous';
}

/**
 * What follows a failure, decided after the session was tested (token-runtime.ts):
 * - `none`: nothing; the session is fine and the error is final (bad input, configuration).
 * - `relogin`: the login was lost (and with it the private session objects); forget cached
 *   handles, log in again, then retry.
 * - `handles`: an object handle went stale; forget cached handles, look token keys up, retry.
 * - `replace`: the session answered its test, but an operation failed on it and may have left
 *   it mid-operation; close it and retry on another (no other session is touched).
 * - `session`: the session is gone; drop it (and the idle ones), retry on a new one.
 * - `device`: the device or the module lost its state; drop every session, reopen the owner
 *   session and log in again, then retry.
 * - `removed`: as `device`, but the token went (a `gone` code of the device): every session
 *   went with it, so none is closed, only forgotten (their numbers may be reused by then).
 * - `owner`: the owner session's test said it is closed already (a `gone` code): drop the idle
 *   sessions, open a new owner session and log in again; the old one is forgotten, not closed.
 */
export type Recovery = 'none' | 'relogin' | 'handles' | 'replace' | 'session' | 'device' | 'removed' | 'owner';

/**
 * A failed HSM call: the core sees a {@link BackendError} of some `kind`; the CKR name, its value
 * and the Cryptoki function are detail for the log only.
 */
export class HsmError extends BackendError {
  constructor(
    /** e.g. `CKR_ENCRYPTED_DATA_INVALID`, or `ERR_…` for failures found by this backend itself */
    readonly code: string,
    /** numeric CK_RV (0 when the failure did not come from the token) */
    readonly ckr: number,
    /** the Cryptoki function, e.g. `C_Decrypt` */
    readonly fn: string,
    kind: BackendErrorKind,
    message?: string,
    /** What the pool does next; by default, what the class of `code` alone allows. */
    readonly recovery: Recovery = defaultRecovery(code),
    /**
     * The session the call was made on is already closed (class `gone`, of `code` or of the
     * session's test): it is forgotten, never closed and never used again (its number may be
     * another session's by now).
     */
    readonly sessionGone: boolean = classOf(code) === 'gone',
  ) {
    super(kind, message ?? `${fn} failed: ${code}`);
    this.name = 'HsmError';
  }

  /** The same failure, judged again after the session was tested. */
  judged(kind: BackendErrorKind, recovery: Recovery, sessionGone = this.sessionGone): HsmError {
    return new HsmError(this.code, this.ckr, this.fn, kind, this.message, recovery, sessionGone);
  }

  override logFields(): Record<string, unknown> {
    return { kind: this.kind, ckr: this.code, ckrValue: this.ckr, fn: this.fn, recovery: this.recovery, ...(this.sessionGone && { sessionGone: true }) };
  }
}

/**
 * A cached object handle of an epoch that has ended (its owner session was replaced, or its
 * objects are no longer trusted): it may name another object now, so it was not passed to the
 * module. Nothing reached the HSM; the session is fine. The cache's user loads the key again.
 */
export class StaleHandleError extends HsmError {
  constructor(fn: string) {
    super('ERR_STALE_HANDLE', 0, fn, 'unavailable', `${fn} was not made: its key handle belongs to an owner session that was replaced.`, 'none');
    this.name = 'StaleHandleError';
  }
}

/** Before any test: a code that may mean a broken session is treated as one. */
function defaultRecovery(code: string): Recovery {
  return sessionMayBeBroken(classOf(code)) ? 'session' : 'none';
}

/** Whether a session may go back to the pool after this error. Unknown errors: no. */
export function sessionUsable(error: unknown): boolean {
  return error instanceof HsmError && error.kind !== 'timeout' && !error.sessionGone && !['replace', 'session', 'device', 'removed', 'owner'].includes(error.recovery);
}

/** Whether the session an error came from is already closed: to be forgotten, not closed. */
export function sessionGone(error: unknown): boolean {
  return error instanceof HsmError && error.sessionGone;
}

/** CKR name by numeric value, built once from the addon's own constants. */
const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js as unknown as Record<string, unknown>)
    .filter((e): e is [string, number] => e[0].startsWith('CKR_') && typeof e[1] === 'number')
    .map(([name, value]) => [value, name]),
);

/** The CKR name of a numeric return value (`CKR_0x…` when the addon does not know it). */
export function ckrName(code: number): string {
  return NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, '0')}`;
}

/** The numeric value of a CKR name. */
export function ckrValue(name: string): number {
  const value = (pkcs11js as unknown as Record<string, unknown>)[name];
  return typeof value === 'number' ? value : -1;
}

/** How a caller's involvement changes the reading of a return code. */
export interface Blame {
  /** The failed call processed input the KMS caller chose (a ciphertext, a signature, a blob). */
  callerInput?: boolean;
  /** Codes this call's token is known to use for bad input (a profile's `badCiphertextCodes`). */
  dataCodes?: readonly string[];
}

/** The core-facing kind of a return code, before any session test (see token-runtime.ts). */
export function kindOf(code: string, blame: Blame = {}): BackendErrorKind {
  if (blame.dataCodes?.includes(code)) return 'data';
  if (LOGIN_REFUSED.has(code)) return 'credentials';
  switch (classOf(code)) {
    case 'data':
      return 'data';
    case 'input':
      return blame.callerInput ? 'data' : 'internal';
    case 'fatal':
    case 'gone':
      return 'unavailable';
    default:
      return 'internal';
  }
}

/**
 * Turns whatever a pkcs11js call threw into an HsmError. `fn` names the Cryptoki function when
 * the addon did not (its async variants leave `method` empty). Non-PKCS#11 failures (a wrong
 * argument type) become `ERR_PKCS11_CALL`, kind `internal`, with the original message, which never
 * holds secrets: pkcs11js reports argument positions, not values.
 */
export function toHsmError(error: unknown, fn: string, blame?: Blame): HsmError {
  if (error instanceof HsmError) return error;
  const returned = returnValueOf(error);
  if (returned) {
    const code = ckrName(returned.ckr);
    return new HsmError(code, returned.ckr, returned.method || fn, kindOf(code, blame));
  }
  const e = error as { message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return new HsmError('ERR_PKCS11_CALL', 0, fn, 'internal', `${fn} failed: ${message}`);
}

/**
 * The CK_RV a pkcs11js call failed with, if it failed in the module. pkcs11js throws a
 * `Pkcs11Error` with `code` from most methods, but from the three it overrides in JavaScript
 * (C_CreateObject, C_CopyObject, C_SetAttributeValue) the addon's raw Error, whose message is
 * `CKR_NAME:value` — the form pkcs11js itself parses. Our own addon's errors carry `ckr`.
 */
export function returnValueOf(error: unknown): { ckr: number; method: string } | undefined {
  const e = error as { code?: unknown; method?: unknown; message?: unknown; name?: unknown; ckr?: unknown; fn?: unknown } | null;
  if (!e || typeof e !== 'object') return undefined;
  const method = typeof e.method === 'string' ? e.method : '';
  if (e.name === 'Pkcs11Error' && typeof e.code === 'number') return { ckr: e.code, method };
  // The native addon's errors carry `ckr` (0 when the addon itself refused) and `fn`.
  if (typeof e.ckr === 'number' && e.ckr !== 0) return { ckr: e.ckr, method: typeof e.fn === 'string' ? e.fn : '' };
  const raw = typeof e.message === 'string' ? /^CKR_\w+:(\d+)$/.exec(e.message) : null;
  return raw ? { ckr: Number(raw[1]), method } : undefined;
}

/** An HsmError raised by this backend itself (not by the token), e.g. for a malformed blob. */
export function hsmError(code: string, fn: string, kind: BackendErrorKind, message: string): HsmError {
  return new HsmError(code, Math.max(ckrValue(code), 0), fn, kind, message);
}
