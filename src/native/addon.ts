/**
 * The typed face of the native addon (native/, built by `npm install` through binding.gyp).
 * The TLS offload loads it, and the PKCS#11 backend for the one thing pkcs11js cannot do (a key
 * whose template holds a template). All calls but `verifyEcdsa` (the CA's CSR check, on libuv's
 * thread pool) are synchronous and meant for start-up, the CLI and tests; on the TLS path OpenSSL
 * calls the addon's ENGINE directly, never through JavaScript.
 */
import { createRequire } from 'node:module';
import { ConfigError } from '../config/hsm.js';

/** An error thrown by the addon: `code` names it, `ckr` is the PKCS#11 return value (0 if none), `fn` the failing call. */
export interface AddonError extends Error {
  code: string;
  ckr: number;
  fn?: string;
}

/** What the addon reports about a private key in the token. */
export interface AddonKeyInfo {
  keyType: 'RSA' | 'EC';
  /** DER SubjectPublicKeyInfo of the public half. */
  spki: Buffer;
  sensitive: boolean;
  extractable: boolean;
}

/**
 * Counters since start, process-wide: signatures made in tokens, session reconnects, signatures
 * given up at the call timeout and refused at once while one of those was outstanding, session
 * copies made to sign with (SoftHSM2 only), and copies the token refused (the stored key signs).
 */
export interface HsmTlsStats {
  signs: number;
  reconnects: number;
  signTimeouts: number;
  signsRefusedWhileHung: number;
  sessionCopies: number;
  copyRefusals: number;
}

/** The functions the addon exports (see native/addon.cc). */
export interface HsmTlsAddon {
  /** Logs in now; a signature waits at most `callTimeoutMs` for the HSM (native/sign-thread.h). */
  openToken(options: { modulePath: string; tokenLabel?: string; tokenSerial?: string; pin: string; callTimeoutMs: number }): void;
  /**
   * Ends the object handles kept for the tokens of this module (native/token.h, ForgetObjects):
   * after another user of the module in this process lost and renewed the login. Returns how
   * many opened tokens it applied to.
   */
  forgetObjects(modulePath: string): number;
  describeKey(uri: string): AddonKeyInfo;
  generateKeyPair(uri: string, spec: string): AddonKeyInfo & { id: Buffer };
  signDigest(uri: string, hash: string, digest: Buffer): Buffer;
  /**
   * C_GenerateKey with CKA_UNWRAP_TEMPLATE, on a pkcs11js session (handle Buffer) of the same
   * module; returns the key's handle as pkcs11js gives them.
   */
  generateKeyWithUnwrapTemplate(
    modulePath: string,
    session: Buffer,
    mechanism: number,
    template: Array<{ type: number; value: boolean | number | Buffer | string }>,
    unwrapTemplate: Array<{ type: number; value: boolean | number | Buffer | string }>,
  ): Buffer;
  /** How the ENGINE reads a key URI (the same grammar as the TypeScript parser, tested to agree). */
  parseKeyUri(uri: string): { token?: string; serial?: string; object?: string; id?: Buffer; type?: string };
  engineId(): string;
  stats(): HsmTlsStats;
  /** Until disarmed, TLS contexts created on this thread check client certificates (client-verify.cc). */
  armClientVerify(subject: string): void;
  /** Returns how many contexts were armed. */
  disarmClientVerify(): number;
  /** Maps the start of a file open as `fd`, read-only and shared, unmapped when collected (native/file-map.cc). */
  mapFdReadOnly(fd: number, length: number): { buffer: ArrayBuffer; dev: bigint; ino: bigint };
  /**
   * Checks an ECDSA signature on libuv's thread pool, key import included (native/ecdsa-verify.cc);
   * the callback gets 0 (valid), 1 (does not verify) or 2 (the point is not on the curve). Throws
   * at once for arguments out of its contract. The one asynchronous function here.
   */
  verifyEcdsa(
    curve: 'P-256' | 'P-384',
    point: Buffer,
    hash: string,
    data: Buffer,
    signature: Buffer,
    callback: (error: Error | null, verdict: 0 | 1 | 2) => void,
  ): void;
}

let loaded: HsmTlsAddon | undefined;

/**
 * Loads the addon on first use, so that importing src/tls costs nothing for commands that do
 * not serve TLS. (A cache, not a singleton of state: the addon itself is per process.)
 */
export function loadAddon(): HsmTlsAddon {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    // Same relative path from src/native (tests) and dist/native (the built CLI).
    loaded = require('../../build/Release/hsmkms_tls.node') as HsmTlsAddon;
  } catch (error) {
    // The installation's fault, not the HSM's: a ConfigError, which the CLI prints as it is.
    throw new ConfigError(
      `The native addon (TLS offload, domain-key creation) is not built (${(error as Error).message.split('\n')[0]}). ` +
        'Build it with `npm install` in a checkout, or `npm rebuild hsmkms` where hsmkms is installed as a package (node-gyp: a C++ compiler, make and python3 are needed).',
    );
  }
  return loaded;
}

/** The addon, or undefined when it is not built: for the uses that have a way without it. */
export function optionalAddon(): HsmTlsAddon | undefined {
  try {
    return loadAddon();
  } catch {
    return undefined;
  }
}

/** True when `error` came from the addon (it carries `code` and `ckr`). */
export function isAddonError(error: unknown): error is AddonError {
  return error instanceof Error && typeof (error as Partial<AddonError>).code === 'string' && typeof (error as Partial<AddonError>).ckr === 'number';
}
