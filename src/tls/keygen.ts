/**
 * Keys for TLS made inside the token, and certificate signing requests signed there: the CSR
 * is built by @peculiar/x509 with a WebCrypto-shaped signer whose `sign` is the HSM.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { HsmConfig } from '../config/hsm.js';
import { HsmTlsError, toHsmTlsError } from './errors.js';
import { keyUriFor, openTlsToken, qualifyKeyUri } from './hsm-token.js';
import { loadAddon, type AddonKeyInfo } from '../native/addon.js';

/** Key specs in AWS KMS's spelling. */
export type TlsKeySpec = 'RSA_2048' | 'RSA_3072' | 'ECC_NIST_P256' | 'ECC_NIST_P384';
/** Every key spec `generateTlsKey` accepts. */
export const TLS_KEY_SPECS: readonly TlsKeySpec[] = ['RSA_2048', 'RSA_3072', 'ECC_NIST_P256', 'ECC_NIST_P384'];

/** A key pair just generated in the token. */
export interface GeneratedTlsKey {
  /** URI naming the new private key (token, label, id). */
  keyUri: string;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  sensitive: boolean;
  extractable: boolean;
}

/**
 * Generates a key pair in the token: the private key sensitive, never extractable, allowed
 * to sign and nothing else. Fails (ERR_KEY_EXISTS) when the label is taken.
 */
export function generateTlsKey(hsm: HsmConfig, label: string, spec: TlsKeySpec): GeneratedTlsKey {
  if (!TLS_KEY_SPECS.includes(spec)) throw new HsmTlsError('ERR_INVALID_KEY_SPEC', `Key spec must be one of ${TLS_KEY_SPECS.join(', ')}.`);
  if (label.trim() === '') throw new HsmTlsError('ERR_INVALID_LABEL', 'The key needs a non-empty label.');
  openTlsToken(hsm);
  let info: AddonKeyInfo & { id: Buffer };
  try {
    info = loadAddon().generateKeyPair(keyUriFor(hsm, label), spec);
  } catch (error) {
    throw toHsmTlsError(error, `Cannot generate the key "${label}"`);
  }
  return {
    keyUri: keyUriFor(hsm, label, info.id),
    spki: info.spki,
    sensitive: info.sensitive,
    extractable: info.extractable,
  };
}

/** What the certificate signing request asks for. */
export interface CsrRequest {
  /** Distinguished name, e.g. `CN=www.example.com, O=Example`. */
  subject: string;
  /** subjectAltName entries, e.g. `DNS:www.example.com`, `IP:192.0.2.1`. */
  san?: string[];
}

/** Builds a PKCS#10 request for the HSM key, signed in the token. Returns PEM. */
export async function createTlsCsr(hsm: HsmConfig, keyUri: string, request: CsrRequest): Promise<string> {
  openTlsToken(hsm);
  const uri = qualifyKeyUri(hsm, keyUri);
  const addon = loadAddon();
  let info: AddonKeyInfo;
  try {
    info = addon.describeKey(uri);
  } catch (error) {
    throw toHsmTlsError(error, `Cannot use the key ${keyUri}`);
  }
  const publicKey = new x509.PublicKey(info.spki);
  const { keyAlgorithm, hash } = signingAlgorithm(publicKey);
  const privateKey = { algorithm: keyAlgorithm, type: 'private', extractable: false, usages: ['sign'] };
  const subtle = {
    exportKey: async () => new Uint8Array(info.spki).buffer,
    sign: async (_algorithm: unknown, _key: unknown, data: ArrayBuffer | ArrayBufferView) => {
      const bytes = ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
      const nodeHash = hash.replace('-', '').toLowerCase();
      const signature = addon.signDigest(uri, nodeHash, createHash(nodeHash).update(bytes).digest());
      return new Uint8Array(signature).buffer;
    },
  };
  // Only exportKey and sign are used by the generator; everything else comes from Node.
  const crypto = { subtle, getRandomValues: webcrypto.getRandomValues.bind(webcrypto) } as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1];
  const extensions: x509.Extension[] = [];
  if (request.san && request.san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(request.san.map(parseSan)));
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = await x509.Pkcs10CertificateRequestGenerator.create(
      { name: request.subject, keys: { privateKey: privateKey as unknown as webcrypto.CryptoKey, publicKey: privateKey as unknown as webcrypto.CryptoKey }, signingAlgorithm: { name: keyAlgorithm.name, hash }, extensions },
      crypto,
    );
  } catch (error) {
    throw toHsmTlsError(error, 'Cannot build the certificate signing request');
  }
  return csr.toString('pem');
}

function signingAlgorithm(publicKey: x509.PublicKey): { keyAlgorithm: { name: string; namedCurve?: string; hash?: { name: string } }; hash: string } {
  const algorithm = publicKey.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name === 'ECDSA') {
    const hash = algorithm.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256';
    return { keyAlgorithm: { name: 'ECDSA', namedCurve: algorithm.namedCurve ?? 'P-256' }, hash };
  }
  return { keyAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } }, hash: 'SHA-256' };
}

/** `DNS:name`, `IP:addr`, `EMAIL:x@y` or `URI:…` as an x509 GeneralName. A bare name is DNS. */
function parseSan(entry: string): x509.JsonGeneralName {
  const colon = entry.indexOf(':');
  const kind = colon > 0 ? entry.slice(0, colon).toUpperCase() : 'DNS';
  const value = colon > 0 ? entry.slice(colon + 1) : entry;
  switch (kind) {
    case 'DNS':
      return { type: 'dns', value };
    case 'IP':
      return { type: 'ip', value };
    case 'EMAIL':
      return { type: 'email', value };
    case 'URI':
      return { type: 'url', value };
    default:
      throw new HsmTlsError('ERR_INVALID_SAN', `Unknown subjectAltName "${entry}"; use DNS:, IP:, EMAIL: or URI:.`);
  }
}
