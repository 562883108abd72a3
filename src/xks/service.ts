/**
 * hsmkms as an XKS proxy: the four operations of the XKS proxy API specification v1.0 over
 * AES-256 keys in the HSM token (GetKeyMetadata, Encrypt, Decrypt, GetHealthStatus). The HTTP
 * adapter (src/http/xks-route.ts) authenticates the request and hands the parsed body here.
 */
import { withDeadline } from '../core/deadline.js';
import { BackendError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import { XksError, xksError } from './errors.js';
import { aadInput, ciphertextDataIntegrityValue, legacyAadInput } from './gcm-framing.js';
import type { DecryptRequest, EncryptRequest, RequestMetadata } from './requests.js';

/** Key usages as the specification spells them (PKCS#11 attributes CKA_ENCRYPT, …). */
export type XksKeyUsage = 'ENCRYPT' | 'DECRYPT' | 'SIGN' | 'VERIFY' | 'WRAP' | 'UNWRAP' | 'DERIVE';

export interface XksKeyInfo {
  /** AES key length in bytes; only 32 (AES_256) serves KMS. */
  aesBytes: number;
  usage: XksKeyUsage[];
}

/** Why a key cannot serve a request (thrown by {@link XksKeys} implementations). */
export class XksKeyError extends Error {
  override readonly name = 'XksKeyError';
  constructor(
    readonly reason: 'missing' | 'usage' | 'unsuitable',
    message: string,
  ) {
    super(message);
  }
}

/** Where the XKS keys are (the PKCS#11 backend implements it over a token). */
export interface XksKeys {
  /** The key's attributes; undefined when no AES key has this id. */
  describe(keyId: string): Promise<XksKeyInfo | undefined>;
  /** AES-256-GCM; returns IV, ciphertext and the 16-byte tag. Throws XksKeyError, BackendError. */
  encrypt(keyId: string, plaintext: Buffer, aad: Buffer): Promise<{ iv: Buffer; ciphertext: Buffer; tag: Buffer }>;
  /** Throws a BackendError of kind `data` when the tag does not verify. */
  decrypt(keyId: string, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Promise<Buffer>;
  /** A deep check of each key manager (a crypto round trip on a throwaway key). */
  health(): Promise<Array<{ id: string; model: string; vendor: string; healthStatus: 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE' }>>;
}

/**
 * Optional secondary authorization over `requestMetadata` (an IAM-style policy per URI prefix,
 * src/xks/policy.ts); throws XksError AccessDeniedException. Without one, everything SigV4 let in
 * is allowed.
 */
export interface XksAuthorizer {
  authorize(request: { uriPrefix: string; operation: 'GetKeyMetadata' | 'Encrypt' | 'Decrypt'; keyId: string; requestMetadata: RequestMetadata }): Promise<XksDecision>;
}

/** What secondary authorization decided on a request, for the audit trail. */
export interface XksDecision {
  /** `NotChecked`: no policy applies to the request's URI prefix. */
  decision: 'Allow' | 'Deny' | 'NotChecked';
  /** The Sid (or `#index`) of the statement that decided. */
  statement?: string | undefined;
}

/** Where a call's authorization decision is noted (by the HTTP adapter, for the audit record). */
export interface XksCallNote {
  decision?: XksDecision | undefined;
}

export interface XksProxyOptions {
  keys: XksKeys;
  logger: Logger;
  authorizer?: XksAuthorizer | undefined;
  /** Longest a call to the HSM may take before the request answers DependencyTimeoutException. */
  hsmTimeoutMs?: number;
  /** Health results older than this are refreshed in the background (the specification allows a minute). */
  healthRefreshMs?: number;
  now?: () => number;
  version?: string;
}

const ALLOW_ALL: XksAuthorizer = { authorize: async () => ({ decision: 'NotChecked' }) };

export class XksProxy {
  private authorizer: XksAuthorizer;
  private readonly hsmTimeoutMs: number;
  private readonly healthRefreshMs: number;
  private readonly now: () => number;
  private health: { at: number; fleet: Awaited<ReturnType<XksKeys['health']>> } | undefined;
  private healthRun: Promise<void> | undefined;

  constructor(private readonly options: XksProxyOptions) {
    this.authorizer = options.authorizer ?? ALLOW_ALL;
    this.hsmTimeoutMs = options.hsmTimeoutMs ?? 5_000;
    this.healthRefreshMs = options.healthRefreshMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** Replaces the secondary authorization (the policies were reloaded); calls already running keep the one they started with. */
  setAuthorizer(authorizer: XksAuthorizer | undefined): void {
    this.authorizer = authorizer ?? ALLOW_ALL;
  }

  async getKeyMetadata(uriPrefix: string, keyId: string, requestMetadata: RequestMetadata, note: XksCallNote = {}): Promise<Record<string, unknown>> {
    note.decision = await this.authorizer.authorize({ uriPrefix, operation: 'GetKeyMetadata', keyId, requestMetadata });
    const info = await this.hsm(() => this.options.keys.describe(keyId));
    if (!info) throw xksError.keyNotFound(keyId);
    return { keySpec: `AES_${info.aesBytes * 8}`, keyUsage: info.usage, keyStatus: 'ENABLED' };
  }

  async encrypt(uriPrefix: string, keyId: string, request: EncryptRequest, note: XksCallNote = {}): Promise<Record<string, unknown>> {
    note.decision = await this.authorizer.authorize({ uriPrefix, operation: 'Encrypt', keyId, requestMetadata: request.requestMetadata });
    const aad = request.additionalAuthenticatedData;
    if (request.cdiv) {
      // The integrity value is only worth giving after a test decryption, which needs DECRYPT.
      const info = await this.hsm(() => this.options.keys.describe(keyId));
      if (!info) throw xksError.keyNotFound(keyId);
      if (!info.usage.includes('DECRYPT'))
        throw xksError.keyUsage(`The key ${keyId} cannot decrypt, so a ciphertextDataIntegrityValue cannot be verified before it is returned.`);
    }
    const out = await this.hsm(() => this.options.keys.encrypt(keyId, request.plaintext, aadInput(aad, undefined)), keyId);
    const response: Record<string, unknown> = {
      ciphertext: out.ciphertext.toString('base64'),
      initializationVector: out.iv.toString('base64'),
      authenticationTag: out.tag.toString('base64'),
    };
    if (request.cdiv) {
      // Computed before the test decryption, as Appendix C asks: a bit flip after it would go unseen.
      const cdiv = ciphertextDataIntegrityValue({ aad, iv: out.iv, ciphertext: out.ciphertext, tag: out.tag });
      const back = await this.hsm(() => this.options.keys.decrypt(keyId, out.iv, out.ciphertext, out.tag, aadInput(aad, undefined)), keyId).catch(() => undefined);
      if (!back || !back.equals(request.plaintext)) throw xksError.internal('The test decryption of the new ciphertext failed; nothing was returned.');
      back.fill(0);
      response.ciphertextDataIntegrityValue = cdiv;
    }
    return response;
  }

  async decrypt(uriPrefix: string, keyId: string, request: DecryptRequest, note: XksCallNote = {}): Promise<Record<string, unknown>> {
    note.decision = await this.authorizer.authorize({ uriPrefix, operation: 'Decrypt', keyId, requestMetadata: request.requestMetadata });
    const { initializationVector: iv, ciphertext, authenticationTag: tag, additionalAuthenticatedData: aad, ciphertextMetadata } = request;
    let plaintext: Buffer | undefined;
    try {
      plaintext = await this.hsm(() => this.options.keys.decrypt(keyId, iv, ciphertext, tag, aadInput(aad, ciphertextMetadata)), keyId);
    } catch (error) {
      if (!(error instanceof XksError && error.errorName === 'InvalidCiphertextException')) throw error;
      // Ciphertexts that aws-kms-xks-proxy made for the same key.
      plaintext = await this.hsm(() => this.options.keys.decrypt(keyId, iv, ciphertext, tag, legacyAadInput(aad, ciphertextMetadata)), keyId);
    }
    return { plaintext: plaintext.toString('base64') };
  }

  /** Runs the first health check now, so that AWS KMS's first GetHealthStatus finds a result. */
  warm(): void {
    this.healthRun ??= this.refreshHealth().finally(() => {
      this.healthRun = undefined;
    });
  }

  /** GetHealthStatus from a check at most a minute old (refreshed in the background after `healthRefreshMs`). */
  async getHealthStatus(): Promise<Record<string, unknown>> {
    const age = this.health ? this.now() - this.health.at : Infinity;
    if (age > this.healthRefreshMs) {
      this.healthRun ??= this.refreshHealth().finally(() => {
        this.healthRun = undefined;
      });
      // Too old to answer from: wait for the check, but no longer than one HSM call may take.
      if (age > 60_000) await withDeadline(this.healthRun, Date.now() + this.hsmTimeoutMs, () => new Error('health check still running')).catch(() => undefined);
    }
    const fresh = this.health && this.now() - this.health.at <= 60_000 ? this.health.fleet : undefined;
    const fleet = fresh ?? [{ id: 'hsm', model: 'unknown', vendor: 'unknown', healthStatus: 'UNAVAILABLE' as const }];
    return {
      xksProxyFleetSize: 1,
      xksProxyVendor: 'hsmkms',
      xksProxyModel: `hsmkms ${this.options.version ?? ''}`.trim(),
      ekmVendor: fleet[0]!.vendor,
      ekmFleetDetails: fleet.slice(0, 10).map(({ id, model, healthStatus }) => ({ id, model, healthStatus })),
    };
  }

  private async refreshHealth(): Promise<void> {
    try {
      this.health = { at: this.now(), fleet: await this.options.keys.health() };
    } catch (error) {
      this.options.logger.warn({ err: String(error) }, 'XKS health check failed');
      this.health = { at: this.now(), fleet: [{ id: 'hsm', model: 'unknown', vendor: 'unknown', healthStatus: 'UNAVAILABLE' }] };
    }
  }

  /**
   * Runs an HSM call bounded in time and turns its failures into XKS errors: a missing key,
   * a key that may not do this, a bad tag; anything else is InternalException (details logged).
   */
  private async hsm<T>(call: () => Promise<T>, keyId?: string): Promise<T> {
    try {
      return await withDeadline(call(), Date.now() + this.hsmTimeoutMs, () => new XksError('DependencyTimeoutException', `The HSM did not answer within ${this.hsmTimeoutMs} ms.`));
    } catch (error) {
      if (error instanceof XksError) throw error;
      if (error instanceof XksKeyError) {
        if (error.reason === 'missing' && keyId !== undefined) throw xksError.keyNotFound(keyId);
        throw xksError.keyUsage(error.message);
      }
      if (error instanceof BackendError && error.kind === 'data') throw xksError.ciphertext();
      this.options.logger.error(
        error instanceof BackendError ? error.logFields() : { err: String(error) },
        'XKS request failed in the HSM',
      );
      throw xksError.internal();
    }
  }
}
