/**
 * Signing with a KMS key: {@link signWithKms} hashes the DER to be signed (a TBSCertificate, a
 * TBSCertList, OCSP ResponseData) and sends the digest to KMS Sign with `MessageType: DIGEST`.
 * CRLs are built by @peculiar/x509, which signs through a WebCrypto `subtle.sign(algorithm, key,
 * data)`: {@link kmsCrypto} is that, with a {@link KmsSigningKey} — a CryptoKey-shaped handle that
 * carries only a key ARN — as the key, and Node's webcrypto for everything else.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CA_SIGNING, type CaSigningProfile } from './key-specs.js';
import type { CaKeySpec } from './model.js';
import type { CaKms, CaSignaturePurpose } from './ports.js';

/** What @peculiar/x509 expects as its `crypto` argument. */
export type X509Crypto = Parameters<typeof x509.X509CertificateGenerator.create>[1];
/** What @peculiar/x509 expects as a signing key. */
export type X509SigningKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

/** A KMS key as @peculiar/x509 sees a private CryptoKey. Holds the key's ARN, nothing secret. */
export interface KmsSigningKey {
  readonly type: 'private';
  readonly extractable: false;
  readonly usages: readonly ['sign'];
  readonly algorithm: CaSigningProfile['webCrypto'];
  readonly keyId: string;
  readonly signing: CaSigningProfile;
}

export function kmsSigningKey(keyId: string, keySpec: CaKeySpec): KmsSigningKey {
  const signing = CA_SIGNING[keySpec];
  return { type: 'private', extractable: false, usages: ['sign'], algorithm: signing.webCrypto, keyId, signing };
}

function isKmsSigningKey(key: unknown): key is KmsSigningKey {
  return typeof (key as KmsSigningKey | null)?.keyId === 'string' && (key as KmsSigningKey).signing !== undefined;
}

const ecFormatter = new x509.AsnEcSignatureFormatter();

/** Hashes `data` as the key's algorithm requires and has KMS sign the digest; returns KMS's signature (ECDSA: DER). */
export async function signWithKms(kms: CaKms, key: KmsSigningKey, data: Uint8Array, purpose: CaSignaturePurpose): Promise<Uint8Array> {
  const digest = createHash(key.signing.hash).update(data).digest();
  return kms.signDigest(key.keyId, key.signing.kmsAlgorithm, digest, purpose);
}

/** The `crypto` to pass to @peculiar/x509's generators: `sign` goes to KMS (for `purpose`), the rest to Node. */
export function kmsCrypto(kms: CaKms, purpose: CaSignaturePurpose): X509Crypto {
  const node = webcrypto.subtle;
  const subtle = {
    async sign(_algorithm: unknown, key: unknown, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer> {
      if (!isKmsSigningKey(key)) throw new Error('kmsCrypto signs with KMS keys only');
      const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
      const signature = await signWithKms(kms, key, bytes, purpose);
      if (key.signing.rsa) return new Uint8Array(signature).buffer;
      // KMS returns ECDSA signatures DER-encoded; WebCrypto's (and so @peculiar/x509's) form is r‖s.
      const raw = ecFormatter.toWebSignature(key.algorithm, new Uint8Array(signature).buffer);
      if (!raw) throw new Error('KMS returned an ECDSA signature that is not DER');
      return raw;
    },
    digest: node.digest.bind(node),
    exportKey: node.exportKey.bind(node),
    importKey: node.importKey.bind(node),
    verify: node.verify.bind(node),
  };
  return { subtle, getRandomValues: webcrypto.getRandomValues.bind(webcrypto) } as unknown as X509Crypto;
}

/** Node's webcrypto, typed as @peculiar/x509 wants it (the OCSP responder's hashes). */
export const nodeCrypto = webcrypto as unknown as X509Crypto;
