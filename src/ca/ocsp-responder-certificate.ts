/**
 * The delegated OCSP responder (RFC 6960 §4.2.2.2): a KMS key of its own, certified by each of
 * the CA's two tiers with EKU id-kp-OCSPSigning and id-pkix-ocsp-nocheck.
 *
 * Why delegated rather than the CA keys signing responses themselves: the CA certificates then
 * keep exactly keyCertSign+cRLSign (a CA key that signs OCSP responses should also carry
 * digitalSignature), the issuing key signs only certificates and CRLs, and the root key is not
 * used on every status query about the intermediate. Responder certificates live 30 days and
 * are renewed when a third of that is left, so a compromised responder key is short-lived.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { LoadedAuthority } from './authority.js';
import { signCertificate, validity } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import type { IssuedCertificateRecord, IssuerTier } from './model.js';
import { canonicalSerial } from './serial.js';

const RESPONDER_DAYS = 30;
const RENEW_WHEN_LEFT_MS = 10 * 86_400_000;
/** id-pkix-ocsp-nocheck with its NULL value: clients do not check the responder's own revocation. */
const OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';

/** The tier's current responder certificate, issuing a new one when there is none or it is due. */
export async function ensureResponder(deps: CaDeps, authority: LoadedAuthority, tier: IssuerTier): Promise<IssuedCertificateRecord> {
  const current = await deps.store.currentResponder(authority.record.name, tier);
  const now = deps.now();
  if (current && current.notAfter.getTime() - now.getTime() > RENEW_WHEN_LEFT_MS) return current;
  return issueResponder(deps, authority, tier, now);
}

async function issueResponder(deps: CaDeps, authority: LoadedAuthority, tier: IssuerTier, now: Date): Promise<IssuedCertificateRecord> {
  const issuer = authority.certificate(tier);
  const publicKey = new x509.PublicKey(await deps.kms.getPublicKey(authority.record.ocspKeyId));
  const subject = new x509.Name([{ CN: [`${authority.record.name} ${tier} OCSP responder`] }]);
  const { notBefore, notAfter } = validity(now, RESPONDER_DAYS);
  const { serial, certificate } = await signCertificate(deps.kms, {
    subject,
    issuer: issuer.subjectName,
    publicKey,
    notBefore,
    notAfter,
    issuerKeyId: authority.keyIds[tier],
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.ocspSigning], false),
      new x509.Extension(OCSP_NOCHECK, false, new Uint8Array([0x05, 0x00])),
    ],
    signingKey: authority.key(tier),
    purpose: 'ocsp-responder-certificate',
  });
  const record: IssuedCertificateRecord = {
    caName: authority.record.name,
    serial: canonicalSerial(serial),
    issuer: tier,
    kind: 'ocsp-responder',
    subject: certificate.subject,
    notBefore,
    notAfter,
    issuedAt: now,
    certificate: new Uint8Array(certificate.rawData),
  };
  await deps.store.insertCertificate(record);
  return record;
}
