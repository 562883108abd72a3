/**
 * The one place where pkcs11js errors become {@link HsmError}s, and where each CKR code is
 * classified: what the session pool does after a failure depends only on the `kind` decided here.
 */
import pkcs11js from 'pkcs11js';
import { HsmError } from '../../core/errors.js';

type Kind = HsmError['kind'];

/** CKR name by numeric value, built once from the addon's own constants. */
const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js as unknown as Record<string, unknown>)
    .filter((e): e is [string, number] => e[0].startsWith('CKR_') && typeof e[1] === 'number')
    .map(([name, value]) => [value, name]),
);

/**
 * Classification of return codes.
 * - `data`: the caller's input was wrong; the session is fine.
 * - `session`: this session (or the login, or an object handle) is gone; drop the session and retry.
 * - `device`: the module or device is in trouble; drop every session and start over.
 * - `config`: wrong PIN, missing mechanism, token absent at start: a person must act.
 */
const KIND_BY_CODE: Readonly<Record<string, Kind>> = {
  CKR_ENCRYPTED_DATA_INVALID: 'data',
  CKR_ENCRYPTED_DATA_LEN_RANGE: 'data',
  CKR_DATA_INVALID: 'data',
  CKR_DATA_LEN_RANGE: 'data',
  CKR_SIGNATURE_INVALID: 'data',
  CKR_SIGNATURE_LEN_RANGE: 'data',
  CKR_WRAPPED_KEY_INVALID: 'data',
  CKR_WRAPPED_KEY_LEN_RANGE: 'data',
  CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: 'data',
  CKR_KEY_SIZE_RANGE: 'data',
  CKR_TEMPLATE_INCONSISTENT: 'data',
  CKR_ATTRIBUTE_VALUE_INVALID: 'data',
  CKR_DOMAIN_PARAMS_INVALID: 'data',
  CKR_CURVE_NOT_SUPPORTED: 'data',

  CKR_SESSION_HANDLE_INVALID: 'session',
  CKR_SESSION_CLOSED: 'session',
  CKR_SESSION_COUNT: 'session',
  CKR_USER_NOT_LOGGED_IN: 'session',
  CKR_OBJECT_HANDLE_INVALID: 'session',
  CKR_KEY_HANDLE_INVALID: 'session',
  CKR_OPERATION_ACTIVE: 'session',
  CKR_OPERATION_NOT_INITIALIZED: 'session',

  CKR_DEVICE_ERROR: 'device',
  CKR_GENERAL_ERROR: 'device',
  CKR_DEVICE_MEMORY: 'device',
  CKR_DEVICE_REMOVED: 'device',
  CKR_TOKEN_NOT_PRESENT: 'device',
  CKR_CRYPTOKI_NOT_INITIALIZED: 'device',
  CKR_HOST_MEMORY: 'device',
  CKR_FUNCTION_FAILED: 'device',

  CKR_PIN_INCORRECT: 'config',
  CKR_PIN_LOCKED: 'config',
  CKR_PIN_LEN_RANGE: 'config',
  CKR_PIN_EXPIRED: 'config',
  CKR_USER_PIN_NOT_INITIALIZED: 'config',
  CKR_TOKEN_NOT_RECOGNIZED: 'config',
  CKR_MECHANISM_INVALID: 'config',
  CKR_MECHANISM_PARAM_INVALID: 'config',
  CKR_FUNCTION_NOT_SUPPORTED: 'config',
  CKR_KEY_TYPE_INCONSISTENT: 'config',
  CKR_KEY_FUNCTION_NOT_PERMITTED: 'config',
  CKR_ATTRIBUTE_TYPE_INVALID: 'config',
  CKR_ATTRIBUTE_READ_ONLY: 'config',
  CKR_TEMPLATE_INCOMPLETE: 'config',
};

/** The CKR name of a numeric return value (`CKR_0x…` when the addon does not know it). */
export function ckrName(code: number): string {
  return NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, '0')}`;
}

/** The numeric value of a CKR name. */
export function ckrValue(name: string): number {
  const value = (pkcs11js as unknown as Record<string, unknown>)[name];
  return typeof value === 'number' ? value : -1;
}

/** How the pool should treat a return code. */
export function kindOf(code: string): Kind {
  return KIND_BY_CODE[code] ?? 'other';
}

/**
 * Turns whatever a pkcs11js call threw into an HsmError. `fn` names the Cryptoki function when
 * the addon did not (its async variants leave `method` empty). Non-PKCS#11 failures (a wrong
 * argument type) become kind `other` with the original message, which never holds secrets:
 * pkcs11js reports argument positions, not values.
 */
export function toHsmError(error: unknown, fn: string, overrides?: Readonly<Record<string, Kind>>): HsmError {
  if (error instanceof HsmError) return error;
  const e = error as { code?: unknown; method?: unknown; message?: unknown; name?: unknown };
  if (e && e.name === 'Pkcs11Error' && typeof e.code === 'number') {
    const code = ckrName(e.code);
    const method = typeof e.method === 'string' && e.method !== '' ? e.method : fn;
    return new HsmError(code, e.code, method, overrides?.[code] ?? kindOf(code));
  }
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return new HsmError('CKR_GENERAL_ERROR', 0x5, fn, 'other', `${fn} failed: ${message}`);
}

/** An HsmError raised by this backend itself (not by the token), e.g. for a malformed blob. */
export function hsmError(code: string, fn: string, kind: Kind, message: string): HsmError {
  return new HsmError(code, ckrValue(code), fn, kind, message);
}
