/**
 * Vendor quirks as data. The backend reads these fields; it never asks which vendor it talks to.
 */
import type { HsmProfileName } from '../../config/hsm.js';

/**
 * Groups of Cryptoki calls a profile runs either on the event loop or off it (see hsm-calls.ts,
 * the one place that decides). The first nine are operations, named by what they compute;
 * `unwrap` is AES key unwrapping (an RSA-OAEP unwrap is `rsa`);
 * `init`, `object` and `session` are the calls around them (C_*Init; finding, reading, creating
 * and destroying objects; opening sessions, logging in, token and session information).
 */
export type CallKind =
  | 'aes'
  | 'hmac'
  | 'random'
  | 'ec-p256'
  | 'ec-other'
  | 'rsa'
  | 'unwrap'
  | 'wrap'
  | 'generate'
  | 'init'
  | 'object'
  | 'session';

/** What differs between PKCS#11 tokens, as far as hsmkms is concerned. */
export interface HsmProfile {
  readonly name: HsmProfileName;
  /**
   * Calls made synchronously, on the event loop. A thread-pool call costs ~20 µs of overhead
   * (measured on SoftHSM2), which is more than an AES-GCM or HMAC operation in a local software
   * token takes; for a network HSM every call is a round trip and none may block the event loop.
   */
  readonly syncCalls: ReadonlySet<CallKind>;
  /**
   * The token ignores the GCM IV we pass and writes its own into the parameter's IV buffer
   * (AWS CloudHSM: "the HSM ignores the IV in the request and uses an IV that it generates. The
   * HSM writes the generated IV to the memory reference pointed to by pIV").
   */
  readonly hsmGeneratedGcmIv: boolean;
  /**
   * Return codes that mean "this ciphertext is bad" from C_Decrypt (GCM tag mismatch, OAEP
   * padding). SoftHSM2 2.6 reports both as CKR_GENERAL_ERROR, which would otherwise look like a
   * device failure and make the pool re-initialise.
   */
  readonly badCiphertextCodes: readonly string[];
  /**
   * OAEP hashes the token supports in C_Decrypt / C_UnwrapKey. SoftHSM2 2.6 only has SHA-1; for
   * the others the token does the raw RSA operation (CKM_RSA_X_509) and the OAEP padding is
   * removed in process memory (see key-import.ts for what that means for imports).
   */
  readonly oaepHashes: ReadonlySet<'sha1' | 'sha256'>;
  /** Every key object needs a CKA_ID unique in the token (CloudHSM tooling addresses keys by it). */
  readonly uniqueKeyIds: boolean;
  /**
   * Material keys carry CKA_WRAP_WITH_TRUSTED, so only a CKA_TRUSTED key (the domain key) can wrap
   * them. Needs the domain key marked trusted by the token's security officer (on CloudHSM the
   * Crypto Officer runs `key set-attribute --name trusted --value true`); SoftHSM2 lets only the
   * SO set CKA_TRUSTED, and the SO cannot see private objects, so it is off there.
   */
  readonly wrapWithTrusted: boolean;
  /**
   * The domain key is created with CKA_UNWRAP_TEMPLATE {CKA_SENSITIVE: true, CKA_EXTRACTABLE:
   * false}: the token itself refuses to unwrap any blob under it as extractable, so even the PIN
   * holder cannot get CMK material out. AWS CloudHSM and SoftHSM2 2.6 enforce it (a conflicting
   * template fails with CKR_TEMPLATE_INCONSISTENT); an unknown token may reject the attribute.
   * Applies to domain keys created from now on: existing ones cannot be changed.
   */
  readonly unwrapTemplate: boolean;
  /** How to explain the expected PIN in error messages. */
  readonly pinHint: string;
  /**
   * Return codes of start-up steps (C_Login, finding the token, finding or creating the token's own
   * keys) that mean "another process was changing the token's files", tried again (module.ts,
   * `retryTransient`). SoftHSM2 2.6 rewrites token.object on every login (it clears
   * CKF_USER_PIN_COUNT_LOW), and a login in another process that reads the token flags meanwhile
   * fails with CKR_GENERAL_ERROR ("Could not get the token flags"): workers or nodes starting
   * together on one token meet this.
   */
  readonly transientCodes: readonly string[];
  /**
   * Whether a start-up login refused with CKR_USER_PIN_NOT_INITIALIZED while C_GetTokenInfo says
   * the user PIN is set means the module read the token's files while another process rewrote
   * them, so that only C_Finalize + C_Initialize cures it (module.ts, `openOwnerSession`).
   * SoftHSM2 2.6 reads the PIN blobs once, in C_Initialize.
   */
  readonly reinitializeOnStalePin: boolean;
  /**
   * Token objects made and destroyed after which `hsmkms serve` replaces a worker by default
   * (0: never). SoftHSM2 2.6 keeps a ~200-byte shell of every object destroyed — by
   * C_DestroyObject or with its session — until C_Finalize (`SessionObjectStore::allObjects`),
   * and every cold key use makes one; an HSM that frees them needs no recycling.
   */
  readonly recycleWorkerAfter: number;
}

const NONE: ReadonlySet<CallKind> = new Set();

/** The known profiles. `generic` makes no assumption beyond PKCS#11 2.40. */
export const PROFILES: Readonly<Record<HsmProfileName, HsmProfile>> = {
  softhsm2: {
    name: 'softhsm2',
    // `unwrap` too: every use of a key that is not in the handle cache unwraps it (AES key wrap,
    // ~80 µs of CPU in SoftHSM2), and those unwraps queue on the one owner session; a trip
    // through the thread pool for each made that queue the bottleneck with 100,000 keys in use.
    syncCalls: new Set<CallKind>(['aes', 'hmac', 'random', 'ec-p256', 'unwrap', 'init', 'object', 'session']),
    hsmGeneratedGcmIv: false,
    badCiphertextCodes: ['CKR_GENERAL_ERROR', 'CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE'],
    oaepHashes: new Set(['sha1']),
    uniqueKeyIds: false,
    wrapWithTrusted: false,
    unwrapTemplate: true,
    pinHint: 'the token user PIN',
    transientCodes: ['CKR_GENERAL_ERROR'],
    reinitializeOnStalePin: true,
    // ~200 MB of shells (160–255 bytes each, measured).
    recycleWorkerAfter: 1_000_000,
  },
  cloudhsm: {
    name: 'cloudhsm',
    // Every call is a network round trip to the HSM cluster: none runs on the event loop.
    syncCalls: NONE,
    hsmGeneratedGcmIv: true,
    badCiphertextCodes: ['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE'],
    oaepHashes: new Set(['sha1', 'sha256']),
    uniqueKeyIds: true,
    wrapWithTrusted: false,
    unwrapTemplate: true,
    pinHint: 'the Crypto User credentials as user:password',
    transientCodes: [],
    reinitializeOnStalePin: false,
    recycleWorkerAfter: 0,
  },
  generic: {
    name: 'generic',
    syncCalls: new Set<CallKind>(['random']),
    hsmGeneratedGcmIv: false,
    badCiphertextCodes: ['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE'],
    oaepHashes: new Set(['sha1', 'sha256']),
    uniqueKeyIds: true,
    wrapWithTrusted: false,
    unwrapTemplate: false,
    pinHint: 'the token user PIN',
    transientCodes: [],
    reinitializeOnStalePin: false,
    recycleWorkerAfter: 0,
  },
};

/**
 * The profile a module path implies when none is configured: the one detection every entry point
 * (CLI options, `pkcs11:` URIs) uses. `/usr/lib/softhsm/libsofthsm2.so` → `softhsm2`,
 * `/opt/cloudhsm/lib/libcloudhsm_pkcs11.so` → `cloudhsm`, anything else → `generic`.
 */
export function detectProfile(modulePath: string): HsmProfileName {
  const file = modulePath.slice(modulePath.lastIndexOf('/') + 1).toLowerCase();
  if (file.includes('cloudhsm')) return 'cloudhsm';
  if (file.includes('softhsm')) return 'softhsm2';
  return 'generic';
}

/** Looks up a profile by name. */
export function profileFor(name: HsmProfileName): HsmProfile {
  return PROFILES[name];
}
