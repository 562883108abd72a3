/**
 * The OCSP responder (RFC 6960, RFC 5019 for GET): for each CertID asked about, good, revoked
 * (with time and reason) or unknown, signed in KMS by the CA's delegated responder key; the
 * request's nonce is echoed. A request that cannot be read gets `malformedRequest`, one about
 * another CA's certificates `unauthorized` — both unsigned, as the RFC has it, so garbage costs
 * no signature.
 *
 * The responder is public, so what callers can make the HSM do is bounded: a nonce-less request
 * (RFC 5019 clients, GET) is answered from a cache of signed responses until half their validity
 * has passed or the tier's revocations change, and at most {@link MAX_OCSP_SIGNING} signatures are
 * in flight per process (beyond that: `tryLater`), so status queries cannot crowd out KMS clients.
 */
import 'reflect-metadata';
import { OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import * as x509 from '@peculiar/x509';
import { loadAuthority, type LoadedAuthority } from './authority.js';
import { wholeSeconds } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
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
  type ParsedOcspRequest,
} from './ocsp-format.js';
import { canonicalSerial } from './serial.js';

/** How long a response may be relied on (and cached, for GET requests without a nonce). */
export const OCSP_RESPONSE_VALIDITY_S = 3600;

/** Signatures for OCSP responses in flight at once, per process. */
export const MAX_OCSP_SIGNING = 8;
/** Signed responses kept for reuse, per process. */
const MAX_CACHED_RESPONSES = 2048;

interface CachedResponse {
  body: Uint8Array;
  /** The tier's revocation epoch the answer was read under. */
  epoch: number;
  freshUntil: number;
}

/** Per-process responder state: reusable answers and the signing budget in use. */
export interface OcspState {
  responses: Map<string, CachedResponse>;
  signing: number;
}

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
  // Nonce-less questions get the same answer while it is fresh and no revocation intervened.
  const cacheKey = request.nonce === undefined && deps.ocsp ? `${authority.record.name}:${tier}:${Buffer.from(requestDer).toString('base64')}` : undefined;
  const epoch = cacheKey ? (await deps.store.crlState(authority.record.name, tier)).revocationEpoch : 0;
  const cached = cacheKey ? deps.ocsp!.responses.get(cacheKey) : undefined;
  if (cached && cached.epoch === epoch && now.getTime() < cached.freshUntil) return { body: cached.body, cacheable: true };

  if (deps.ocsp && deps.ocsp.signing >= MAX_OCSP_SIGNING)
    throw new CaError('ThrottlingException', 'The OCSP responder is busy; try again shortly.');
  if (deps.ocsp) deps.ocsp.signing++;
  try {
    const body = await signedResponse(deps, authority, tier, tiers, request.queries, request.nonce, now);
    if (cacheKey) {
      const responses = deps.ocsp!.responses;
      if (responses.size >= MAX_CACHED_RESPONSES) responses.clear();
      responses.set(cacheKey, { body, epoch, freshUntil: now.getTime() + (OCSP_RESPONSE_VALIDITY_S * 1000) / 2 });
    }
    return { body, cacheable: request.nonce === undefined };
  } finally {
    if (deps.ocsp) deps.ocsp.signing--;
  }
}

async function signedResponse(
  deps: CaDeps,
  authority: LoadedAuthority,
  tier: IssuerTier,
  tiers: Array<IssuerTier | undefined>,
  queries: OcspQuery[],
  nonce: ParsedOcspRequest['nonce'],
  now: Date,
): Promise<Uint8Array> {
  const nextUpdate = new Date(now.getTime() + OCSP_RESPONSE_VALIDITY_S * 1000);
  const answers: OcspAnswer[] = [];
  for (const [i, query] of queries.entries()) {
    answers.push({ certId: query.certId, status: await statusOf(deps, authority, tiers[i] === tier ? tier : undefined, query), thisUpdate: now, nextUpdate });
  }

  const responder = await ensureResponder(deps, authority, tier);
  const responderCertificate = new x509.X509Certificate(responder.certificate);
  const responderKeyHash = new Uint8Array(await responderCertificate.publicKey.getKeyIdentifier('SHA-1', nodeCrypto));
  const data = encodeResponseData(responderKeyHash, now, answers, nonce);
  const key = kmsSigningKey(authority.record.ocspKeyId, authority.record.keySpec);
  const signature = await signWithKms(deps.kms, key, data.der, 'ocsp-response');
  return encodeBasicOcspResponse(data, { oid: key.signing.signatureOid, rsa: key.signing.rsa, value: signature }, responder.certificate);
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
