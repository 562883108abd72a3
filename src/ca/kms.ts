/**
 * {@link CaKms} over `@aws-sdk/client-kms`: the same calls whether the client talks to hsmkms
 * in-process (a request handler that calls the server's `inject()`), to hsmkms over HTTP, or
 * to AWS KMS. Only public keys and signatures come back; no private key material is ever here.
 */
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient, KMSServiceException, ScheduleKeyDeletionCommand, SignCommand, type KMSClientConfig } from '@aws-sdk/client-kms';
import { KmsError } from '../core/errors.js';
import { runInProcess } from '../core/in-process-calls.js';
import { CaError } from './errors.js';
import type { CaKeySpec } from './model.js';
import type { CaKms, CaSignaturePurpose, CaSigningAlgorithm } from './ports.js';

/** How to reach a KMS: an endpoint (credentials from the SDK's default chain unless given) or a request handler. */
export interface KmsConnection {
  region: string;
  endpoint?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  requestHandler?: KMSClientConfig['requestHandler'];
}

/** A KMS client for the CA. */
export function createKmsClient(connection: KmsConnection): KMSClient {
  // hsmkms supports Node 20 (package.json engines, the lock file pins this SDK version): the
  // SDK's warning about its own future Node 22 requirement would only be noise on stderr.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new KMSClient({
    region: connection.region,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.credentials ? { credentials: connection.credentials } : {}),
    ...(connection.requestHandler ? { requestHandler: connection.requestHandler } : {}),
  });
}

/** The CA's view of a KMS client. */
export function sdkCaKms(client: KMSClient): CaKms {
  async function getPublicKey(keyId: string): Promise<Uint8Array> {
    const got = await call('GetPublicKey', () => client.send(new GetPublicKeyCommand({ KeyId: keyId })));
    if (!got.PublicKey) throw new CaError('RequestFailedException', `KMS GetPublicKey returned no public key for ${keyId}.`);
    return got.PublicKey;
  }
  return {
    getPublicKey,
    async createSigningKey(keySpec: CaKeySpec, description: string, tags: Record<string, string>) {
      const created = await call('CreateKey', () =>
        client.send(
          new CreateKeyCommand({
            KeySpec: keySpec,
            KeyUsage: 'SIGN_VERIFY',
            Description: description,
            Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
          }),
        ),
      );
      const keyId = created.KeyMetadata?.Arn;
      if (!keyId) throw new CaError('RequestFailedException', 'KMS CreateKey returned no key ARN.');
      return { keyId, publicKey: await getPublicKey(keyId) };
    },
    async signDigest(keyId: string, algorithm: CaSigningAlgorithm, digest: Uint8Array) {
      const signed = await call('Sign', () =>
        client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm })),
      );
      if (!signed.Signature) throw new CaError('RequestFailedException', `KMS Sign returned no signature for ${keyId}.`);
      return signed.Signature;
    },
    async scheduleKeyDeletion(keyId: string, pendingWindowInDays: number) {
      await call('ScheduleKeyDeletion', () => client.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: pendingWindowInDays })));
    },
  };
}

/** Signs a digest with a CA key (MessageType DIGEST); the signature as KMS returns it. */
export type DigestSigner = (keyId: string, algorithm: CaSigningAlgorithm, digest: Uint8Array) => Promise<Uint8Array>;

/**
 * `kms` with its signatures made by `sign` instead: the server's own KMS Sign operation called
 * in-process (src/core/certificates/in-process-sign.ts), key policy, audit and all, without an
 * HTTP round trip per certificate. Its refusals read as the SDK's would.
 */
export function signingThrough(kms: CaKms, sign: DigestSigner): CaKms {
  return { ...kms, signDigest: (keyId, algorithm, digest) => call('Sign', () => sign(keyId, algorithm, digest)) };
}

/**
 * The CA's KMS when that KMS is this very process (`hsmkms serve`, and `hsmkms ca` on a data
 * directory): each signature, and the clean-up of a failed `ca init`, is marked as the CA's own
 * (src/core/in-process-calls.ts) with its purpose, so the audit trail names it and quorum
 * exempts it. Quorum guards CA keys where a caller asks: on `HsmKms.IssueCertificate`,
 * `RevokeCertificate` and `ReissueIntermediate` (see src/core/certificates/).
 */
export function inProcessCaKms(kms: CaKms): CaKms {
  return {
    getPublicKey: (keyId) => kms.getPublicKey(keyId),
    createSigningKey: (keySpec, description, tags) => kms.createSigningKey(keySpec, description, tags),
    signDigest: (keyId, algorithm, digest, purpose: CaSignaturePurpose) =>
      runInProcess({ quorumExemption: `ca:${purpose}` }, () => kms.signDigest(keyId, algorithm, digest, purpose)),
    scheduleKeyDeletion: (keyId, days) => runInProcess({ quorumExemption: 'ca:abandoned-init-key' }, () => kms.scheduleKeyDeletion(keyId, days)),
  };
}

/** KMS's own refusal (AccessDenied, Disabled, …) or an unreachable endpoint, as one line. */
async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof KMSServiceException || error instanceof KmsError)
      throw new CaError('RequestFailedException', `KMS ${operation} failed: ${error.name}: ${error.message}`, { cause: error });
    const code = (error as { code?: unknown }).code;
    const detail = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
    throw new CaError('RequestFailedException', `KMS ${operation} failed: cannot reach the KMS (${detail}).`, { cause: error });
  }
}
