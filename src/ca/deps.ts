/** What every CA operation is given: built once by whoever runs the CA (CLI, server, bench). */
import type { LoadedAuthority } from './authority.js';
import type { OcspState } from './ocsp-responder.js';
import type { CaKms, CaStore, EcdsaVerifier } from './ports.js';

export interface CaDeps {
  kms: CaKms;
  store: CaStore;
  now: () => Date;
  /**
   * Parsed CAs by name, reused while the stored record is unchanged (parsing two certificates
   * and hashing a key per request would cost more than the issuance's own work).
   */
  authorities?: Map<string, LoadedAuthority>;
  /** The responder's reusable answers and signing budget (see ocsp-responder.ts). */
  ocsp?: OcspState;
  /** Checks a CSR's ECDSA self-signature off the event loop, key import included (ports.ts); without it, node:crypto. */
  ecdsa?: EcdsaVerifier | undefined;
}

/** CA dependencies with an authority cache. */
export function createCaDeps(kms: CaKms, store: CaStore, now: () => Date = () => new Date(), ecdsa?: EcdsaVerifier): CaDeps {
  return { kms, store, now, authorities: new Map(), ocsp: { responses: new Map(), signing: 0 }, ecdsa };
}
