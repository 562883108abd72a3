/**
 * The OCSP responder (RFC 6960, RFC 5019 for GET): for each CertID asked about, good, revoked
 * (with time and reason) or unknown, signed in KMS by the CA's delegated responder key; the
 * request's nonce is echoed. A request that cannot be read gets `malformedRequest`, one about
 * another CA's certificates `unauthorized` — both unsigned, as the RFC has it, so garbage costs
 * no signature.
 */
import 'reflect-metadata';
import { OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import * as x509 from '@peculiar/x509';
import { loadAuthority, type LoadedAuthority } from './authority.js';
import { wholeSeconds } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import { kmsSigningKey, nodeCrypto, signWithKms } from './kms-crypto.js';
import { REASON_CODES, type IssuerTier } from './model.js';
import { ensureResponder } from './ocsp-responder-certificate.js';
import {
  encodeBasicOcspResponse,
  encodeResponseData,
  MalformedOcspRequest,
  parseOcspRequest,
  unsignedOcspResponse,
  type OcspAnswer,
  type OcspCertStatus,
  type OcspQuery,
} from './ocsp-format.js';
import { canonicalSerial } from './serial.js';

/** How long a response may be relied on (and cached, for GET requests without a nonce). */
export const OCSP_RESPONSE_VALIDITY_S = 3600;

export interface OcspResult {
  /** DER OCSPResponse. */
  body: Uint8Array;
  /** True when the response is signed and carries no nonce: HTTP caches may keep it. */
  cacheable: boolean;
}

async function tierOf(authority: LoadedAuthority, query: OcspQuery): Promise<IssuerTier | undefined> {
  if (!query.hash) return undefined;
  for (const tier of ['intermediate', 'root'] as const) {
    const issuer = authority.certificate(tier);
    const nameHash = Buffer.from(await nodeCrypto.subtle.digest(query.hash, issuer.subjectName.toArrayBuffer()));
    const keyHash = Buffer.from(await issuer.publicKey.getKeyIdentifier(query.hash, nodeCrypto));
    if (nameHash.equals(query.issuerNameHash) && keyHash.equals(query.issuerKeyHash)) return tier;
  }
  return undefined;
}

/** Answers one DER OCSPRequest for the named CA. Throws CaError only for an unknown CA name. */
export async function answerOcsp(deps: CaDeps, caName: string, requestDer: Uint8Array): Promise<OcspResult> {
  const authority = await loadAuthority(deps, caName);
  let request;
  try {
    request = parseOcspRequest(requestDer);
  } catch (error) {
    if (error instanceof MalformedOcspRequest) return { body: unsignedOcspResponse(OCSPResponseStatus.malformedRequest), cacheable: false };
    throw error;
  }
  const tiers = await Promise.all(request.queries.map((q) => tierOf(authority, q)));
  // One response has one signer, certified by one tier: that of the first query we know.
  const tier = tiers.find((t) => t !== undefined);
  if (!tier) return { body: unsignedOcspResponse(OCSPResponseStatus.unauthorized), cacheable: false };

  const now = wholeSeconds(deps.now());
  const nextUpdate = new Date(now.getTime() + OCSP_RESPONSE_VALIDITY_S * 1000);
  const answers: OcspAnswer[] = [];
  for (const [i, query] of request.queries.entries()) {
    answers.push({ certId: query.certId, status: await statusOf(deps, authority, tiers[i] === tier ? tier : undefined, query), thisUpdate: now, nextUpdate });
  }

  const responder = await ensureResponder(deps, authority, tier);
  const responderCertificate = new x509.X509Certificate(responder.certificate);
  const responderKeyHash = new Uint8Array(await responderCertificate.publicKey.getKeyIdentifier('SHA-1', nodeCrypto));
  const data = encodeResponseData(responderKeyHash, now, answers, request.nonce);
  const key = kmsSigningKey(authority.record.ocspKeyId, authority.record.keySpec);
  const signature = await signWithKms(deps.kms, key, data.der);
  const body = encodeBasicOcspResponse(data, { oid: key.signing.signatureOid, rsa: key.signing.rsa, value: signature }, responder.certificate);
  return { body, cacheable: request.nonce === undefined };
}

async function statusOf(deps: CaDeps, authority: LoadedAuthority, tier: IssuerTier | undefined, query: OcspQuery): Promise<OcspCertStatus> {
  if (!tier || query.serialHex.length === 0 || query.serialHex.length > 64) return { status: 'unknown' };
  const record = await deps.store.getCertificate(authority.record.name, canonicalSerial(query.serialHex));
  // A serial the other tier signed is not a certificate of this issuer.
  if (!record || record.issuer !== tier) return { status: 'unknown' };
  if (!record.revokedAt) return { status: 'good' };
  const reason = record.revocationReason ?? 'unspecified';
  return { status: 'revoked', revokedAt: record.revokedAt, reasonCode: reason === 'unspecified' ? undefined : REASON_CODES[reason] };
}
