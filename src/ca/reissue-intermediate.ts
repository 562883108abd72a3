/**
 * Re-issuing the intermediate: a new certificate for the same issuing key and subject, signed
 * by the root — to renew it before it expires. Same key and subject means the same subject key
 * identifier, so every leaf, responder certificate and CRL the intermediate signed goes on
 * verifying under either certificate. (A new key would orphan the revocation status of every
 * leaf signed under the old one; after a key compromise, revoke the intermediate and create a
 * new CA instead.) A root operation: the API guards it with kms:Sign on the root key, quorum
 * included (src/core/certificates/reissue-intermediate.ts).
 */
import 'reflect-metadata';
import { StoreError } from '../core/store-error.js';
import { loadAuthority } from './authority.js';
import { signCertificate, validity, wholeSeconds } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
import { intermediateOrder, MAX_CA_DAYS } from './init-ca.js';
import type { IssuedCertificateRecord } from './model.js';
import { canonicalSerial } from './serial.js';

const DAY_MS = 86_400_000;

export interface ReissuedIntermediate {
  record: IssuedCertificateRecord;
  certificatePem: string;
  previousSerial: string;
}

export async function reissueIntermediate(deps: CaDeps, request: { caName: string; days?: number | undefined }): Promise<ReissuedIntermediate> {
  const authority = await loadAuthority(deps, request.caName);
  const name = authority.record.name;
  const current = await deps.store.getCertificate(name, authority.intermediateSerial);
  if (current?.revokedAt)
    throw new CaError(
      'InvalidStateException',
      `The issuing CA of '${name}' was revoked on ${current.revokedAt.toISOString()}; its key is not certified again. Create a new CA with \`hsmkms ca init\`.`,
    );
  const currentDays = Math.round((authority.intermediate.notAfter.getTime() + 1000 - authority.intermediate.notBefore.getTime()) / DAY_MS);
  const days = request.days ?? Math.max(1, currentDays);
  if (!Number.isInteger(days) || days < 1 || days > MAX_CA_DAYS) throw new CaError('InvalidArgsException', `The validity must be 1–${MAX_CA_DAYS} days, not ${days}.`);
  const now = wholeSeconds(deps.now());
  if (authority.root.notAfter.getTime() <= now.getTime())
    throw new CaError('InvalidStateException', `The root of '${name}' expired on ${authority.root.notAfter.toISOString()}; create a new CA.`);

  const { serial, certificate } = await signCertificate(
    deps.kms,
    intermediateOrder({
      subject: authority.intermediate.subjectName,
      root: authority.root,
      rootKeyId: authority.keyIds.root,
      publicKey: authority.intermediate.publicKey,
      ...validity(now, days),
      urls: authority.urls,
      rootSigningKey: authority.key('root'),
    }),
  );
  const record: IssuedCertificateRecord = {
    caName: name,
    serial: canonicalSerial(serial),
    issuer: 'root',
    kind: 'intermediate-ca',
    subject: certificate.subject,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    issuedAt: now,
    certificate: new Uint8Array(certificate.rawData),
  };
  try {
    await deps.store.replaceIntermediate(name, authority.record.intermediateCertificate, record);
  } catch (error) {
    if (error instanceof StoreError && error.kind === 'not-found')
      throw new CaError('InvalidStateException', `The issuing certificate of '${name}' changed while this one was signed; try again.`, { cause: error });
    throw error;
  }
  deps.authorities?.delete(name);
  return { record, certificatePem: certificate.toString('pem'), previousSerial: authority.intermediateSerial };
}
