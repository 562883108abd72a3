/**
 * What the `HsmKms.*Certificate*` operations share: request members validated with AWS's
 * wording, the CA key a call needs kms:Sign (or kms:DescribeKey) on, authorizing the *caller*
 * for it before the CA — which signs as the account root — does anything, and the response shapes.
 */
import { KmsError } from '../errors.js';
import { runInProcess } from '../in-process-calls.js';
import { requireEnabled, requireUsage, resolveKey } from '../key-resolver.js';
import type { KeyRecord, SigningAlgorithm } from '../model.js';
import { loadMaterial, requireDigestLength, requireSigningAlgorithm } from '../operations/crypto-helpers.js';
import type { JsonObject, KmsDeps, RequestContext } from '../operation.js';
import { constraintError, epochSeconds, optionalEnum, requiredString } from '../validation.js';
import type { CaDigestSigner, CaSigningKeys, CaTier, CertificateAuthorityPort, CertificateAuthorityView, CertificateView } from './port.js';

/** The CA behind the operations, or UnsupportedOperationException where none is wired (offline tools). */
export function certificateAuthority(deps: KmsDeps): CertificateAuthorityPort {
  if (!deps.certificateAuthority) throw new KmsError('UnsupportedOperationException', 'This server has no private CA.');
  return deps.certificateAuthority;
}

/** `CaName`: the CA's own rule (letters, digits, `.`, `_`, `-`) is checked by the CA, with its words. */
export function parseCaName(input: JsonObject): string {
  return requiredString(input, 'CaName', { min: 1, max: 64 });
}

/** `SerialNumber`: hex, colons allowed (as `openssl x509 -serial` and `-text` print it). */
export function parseSerialNumber(input: JsonObject): string {
  return requiredString(input, 'SerialNumber', { min: 1, max: 80 });
}

/**
 * Revocation reasons: AWS Private CA's names on the wire (RevokeCertificate's RevocationReason),
 * RFC 5280's (`keyCompromise`, as `hsmkms ca revoke --reason` takes them) accepted as well.
 * A_A_COMPROMISE is absent: this CA issues no attribute certificates.
 */
export const REVOCATION_REASON_NAMES = {
  UNSPECIFIED: 'unspecified',
  KEY_COMPROMISE: 'keyCompromise',
  CERTIFICATE_AUTHORITY_COMPROMISE: 'cACompromise',
  AFFILIATION_CHANGED: 'affiliationChanged',
  SUPERSEDED: 'superseded',
  CESSATION_OF_OPERATION: 'cessationOfOperation',
  PRIVILEGE_WITHDRAWN: 'privilegeWithdrawn',
} as const;
type WireReason = keyof typeof REVOCATION_REASON_NAMES;
const WIRE_REASONS = Object.keys(REVOCATION_REASON_NAMES) as WireReason[];
const RFC_REASONS = Object.values(REVOCATION_REASON_NAMES) as string[];

/** `RevocationReason` (default UNSPECIFIED) as the CA's RFC 5280 name. */
export function parseRevocationReason(input: JsonObject): string {
  const value = input.RevocationReason;
  if (typeof value === 'string' && RFC_REASONS.includes(value)) return value;
  return REVOCATION_REASON_NAMES[optionalEnum(input, 'RevocationReason', WIRE_REASONS) ?? 'UNSPECIFIED'];
}

/** The RFC 5280 reason as AWS Private CA names it. */
export function wireReason(rfc: string): string {
  return WIRE_REASONS.find((name) => REVOCATION_REASON_NAMES[name] === rfc) ?? 'UNSPECIFIED';
}

/** `ValidityDays`: whole days; the CA applies the profile's own maximum. */
export function parseValidityDays(input: JsonObject, max: number): number | undefined {
  const value = input.ValidityDays;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new KmsError('SerializationException', "Field 'ValidityDays' must be an integer.");
  if (value < 1) throw constraintError('ValidityDays', value, 'Member must have value greater than or equal to 1');
  if (value > max) throw constraintError('ValidityDays', value, `Member must have value less than or equal to ${max}`);
  return value;
}

/**
 * The KMS key of one tier of the CA, from this server's store. A CA made with `--kms-endpoint`
 * against another KMS signs with keys this server does not hold: its API operations cannot
 * authorize anyone for them, so they refuse.
 */
export async function caKey(deps: KmsDeps, authority: CaSigningKeys, tier: CaTier | 'ocsp'): Promise<KeyRecord> {
  const arn = tier === 'root' ? authority.rootKeyArn : tier === 'intermediate' ? authority.intermediateKeyArn : authority.ocspKeyArn;
  try {
    return await resolveKey(deps.store, deps.settings, arn);
  } catch (error) {
    if (error instanceof KmsError && error.type === 'NotFoundException')
      throw new KmsError('InvalidStateException', `The ${tier} key of CA '${authority.name}' (${arn}) is not a key of this KMS, so this API cannot authorize its use.`);
    throw error;
  }
}

/**
 * Authorizes the caller — not the CA, which signs as the account root — to sign with `key`
 * exactly as the CA will: kms:Sign, MessageType DIGEST, the CA's signing algorithm. Key policy,
 * identity policies, grants, roles and quorum all apply, as for a Sign call of the caller's own.
 */
export async function authorizeSigning(deps: KmsDeps, ctx: RequestContext, key: KeyRecord, authority: CaSigningKeys): Promise<void> {
  await deps.authorizer.authorize({
    principal: ctx.principal,
    action: 'kms:Sign',
    key,
    context: { 'kms:SigningAlgorithm': authority.signingAlgorithm, 'kms:MessageType': 'DIGEST' },
  });
}

/**
 * The CA's signature with `key` made in the call that {@link authorizeSigning} authorized, as
 * the caller's use of the key: the checks Sign makes (key enabled, SIGN_VERIFY, the algorithm
 * the caller was authorized for, a digest of its length) on the key as this call read it, one
 * HSM signature, and the key, algorithm and purpose written into this call's audit record
 * (`additionalEventData.signing`), which the dispatcher writes durably before the answer.
 */
export function authorizedSigner(deps: KmsDeps, ctx: RequestContext, key: KeyRecord, authority: CaSigningKeys, purpose: string): CaDigestSigner {
  return async (keyArn, algorithm, digest) => {
    if (keyArn !== key.arn || algorithm !== authority.signingAlgorithm)
      throw new KmsError('AccessDeniedException', `This call was authorized to sign with ${key.arn} (${authority.signingAlgorithm}) only.`);
    requireEnabled(key);
    requireUsage(key, 'SIGN_VERIFY', 'Sign');
    requireSigningAlgorithm(key, algorithm as SigningAlgorithm);
    requireDigestLength(algorithm as SigningAlgorithm, digest, 'DIGEST');
    ctx.note?.({ signing: { keyId: key.arn, signingAlgorithm: algorithm, messageType: 'DIGEST', purpose } });
    const material = await loadMaterial(deps, key);
    return deps.backend.sign(material, algorithm as SigningAlgorithm, digest, 'DIGEST');
  };
}

/**
 * Runs the CA for an authorized call: its in-process KMS calls say on whose behalf they are
 * made (their audit records name this call), see src/core/in-process-calls.ts.
 */
export function onBehalfOf<T>(operation: string, ctx: RequestContext, fn: () => Promise<T>): Promise<T> {
  return runInProcess({ onBehalfOf: { operation, requestId: ctx.requestId, principalArn: ctx.principal.arn } }, fn);
}

/** A certificate as the API shows it. */
export function certificateJson(certificate: CertificateView): JsonObject {
  return {
    SerialNumber: certificate.serial,
    Subject: certificate.subject,
    Kind: certificate.kind,
    Issuer: certificate.issuer === 'root' ? 'ROOT' : 'INTERMEDIATE',
    NotBefore: epochSeconds(certificate.notBefore),
    NotAfter: epochSeconds(certificate.notAfter),
    Status: certificate.status,
    ...(certificate.revokedAt ? { RevocationDate: epochSeconds(certificate.revokedAt), RevocationReason: wireReason(certificate.revocationReason ?? 'unspecified') } : {}),
  };
}

/** A CA as the API shows it. */
export function authorityJson(authority: CertificateAuthorityView): JsonObject {
  return {
    CaName: authority.name,
    KeySpec: authority.keySpec,
    SigningAlgorithm: authority.signingAlgorithm,
    CreationDate: epochSeconds(authority.createdAt),
    RootKeyArn: authority.rootKeyArn,
    IntermediateKeyArn: authority.intermediateKeyArn,
    OcspKeyArn: authority.ocspKeyArn,
    RootCertificate: authority.rootCertificatePem,
    IntermediateCertificate: authority.intermediateCertificatePem,
    IntermediateSerialNumber: authority.intermediateSerial,
    IntermediateNotAfter: epochSeconds(authority.intermediateNotAfter),
    Status: authority.intermediateRevokedAt ? 'REVOKED' : authority.intermediateNotAfter.getTime() < Date.now() ? 'EXPIRED' : 'ACTIVE',
    ...(authority.intermediateRevokedAt ? { IntermediateRevocationDate: epochSeconds(authority.intermediateRevokedAt) } : {}),
    Urls: {
      Chain: authority.urls.chain,
      RootCertificate: authority.urls.rootCertificate,
      IntermediateCertificate: authority.urls.intermediateCertificate,
      Crl: authority.urls.crl,
      RootCrl: authority.urls.rootCrl,
      Ocsp: authority.urls.ocsp,
    },
  };
}
