/**
 * A CA as the operations use it: its record with the two certificates parsed, its signing
 * keys as {@link KmsSigningKey}s and its URLs.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { CaDeps } from './deps.js';
import { unknownCa } from './errors.js';
import { kmsSigningKey, type KmsSigningKey } from './kms-crypto.js';
import type { CaAuthorityRecord, IssuerTier } from './model.js';
import { canonicalSerial } from './serial.js';
import { caUrls, requireCaName } from './urls.js';
import { issuerUrlExtensions, keyIdentifier, type IssuerUrls } from './certificate-builder.js';

export interface LoadedAuthority {
  record: CaAuthorityRecord;
  root: x509.X509Certificate;
  intermediate: x509.X509Certificate;
  intermediateSerial: string;
  intermediatePem: string;
  rootPem: string;
  /** Subject key identifiers (hex) of the two CA certificates. */
  keyIds: Record<IssuerTier, string>;
  urls: ReturnType<typeof caUrls>;
  key(tier: IssuerTier): KmsSigningKey;
  certificate(tier: IssuerTier): x509.X509Certificate;
  /** The URLs written into certificates that `tier` signs. */
  issuerUrls(tier: IssuerTier): IssuerUrls;
  /**
   * What every certificate `tier` signs carries from it, encoded once per loaded CA: its
   * subject (DER) as their issuer, and the CRL distribution point and AIA extensions.
   */
  issuing(tier: IssuerTier): { issuerName: Uint8Array; extensions: readonly Uint8Array[] };
}

export async function loadedAuthority(record: CaAuthorityRecord): Promise<LoadedAuthority> {
  const root = new x509.X509Certificate(record.rootCertificate);
  const intermediate = new x509.X509Certificate(record.intermediateCertificate);
  const urls = caUrls(record.baseUrl, record.name);
  const keys = {
    root: kmsSigningKey(record.rootKeyId, record.keySpec),
    intermediate: kmsSigningKey(record.intermediateKeyId, record.keySpec),
  };
  const issuerUrls = (tier: IssuerTier): IssuerUrls =>
    tier === 'root'
      ? { crl: urls.rootCrl, caIssuers: urls.rootCertificate, ocsp: urls.ocsp }
      : { crl: urls.crl, caIssuers: urls.intermediateCertificate, ocsp: urls.ocsp };
  const issuing: Partial<Record<IssuerTier, { issuerName: Uint8Array; extensions: readonly Uint8Array[] }>> = {};
  return {
    record,
    root,
    intermediate,
    intermediateSerial: canonicalSerial(intermediate.serialNumber),
    intermediatePem: intermediate.toString('pem'),
    rootPem: root.toString('pem'),
    keyIds: { root: keyIdentifier(root.publicKey), intermediate: keyIdentifier(intermediate.publicKey) },
    urls,
    key: (tier) => keys[tier],
    certificate: (tier) => (tier === 'root' ? root : intermediate),
    issuerUrls,
    issuing: (tier) =>
      (issuing[tier] ??= {
        issuerName: new Uint8Array((tier === 'root' ? root : intermediate).subjectName.toArrayBuffer()),
        extensions: issuerUrlExtensions(issuerUrls(tier)).map((extension) => new Uint8Array(extension.rawData)),
      }),
  };
}

const MAX_CACHED_AUTHORITIES = 256;

const view = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function sameRecord(a: CaAuthorityRecord, b: CaAuthorityRecord): boolean {
  return (
    a.keySpec === b.keySpec &&
    a.baseUrl === b.baseUrl &&
    a.rootKeyId === b.rootKeyId &&
    a.intermediateKeyId === b.intermediateKeyId &&
    a.ocspKeyId === b.ocspKeyId &&
    view(a.rootCertificate).equals(b.rootCertificate) &&
    view(a.intermediateCertificate).equals(b.intermediateCertificate)
  );
}

/** The named CA, or CaError ResourceNotFoundException. Always read from the store; parsed once. */
export async function loadAuthority(deps: CaDeps, name: string): Promise<LoadedAuthority> {
  const record = await deps.store.getAuthority(requireCaName(name));
  if (!record) throw unknownCa(name);
  const cached = deps.authorities?.get(record.name);
  if (cached && sameRecord(cached.record, record)) return cached;
  const loaded = await loadedAuthority(record);
  if (deps.authorities) {
    if (deps.authorities.size >= MAX_CACHED_AUTHORITIES) deps.authorities.clear();
    deps.authorities.set(record.name, loaded);
  }
  return loaded;
}
