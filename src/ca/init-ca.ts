/**
 * `ca init`: a two-tier CA whose keys are KMS SIGN_VERIFY keys — a self-signed root
 * (pathLen 1) and an issuing intermediate (pathLen 0) signed by it — plus the delegated OCSP
 * responder's key and certificates. Nothing is recorded until every certificate is signed; a
 * failure part way leaves only KMS keys tagged `hsmkms:ca=NAME` that nothing refers to.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { loadedAuthority } from './authority.js';
import { issuerUrlExtensions, keyIdentifier, signCertificate, validity, wholeSeconds } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
import { kmsSigningKey } from './kms-crypto.js';
import { CA_KEY_SPECS, type CaAuthorityRecord, type CaKeySpec, type IssuedCertificateRecord } from './model.js';
import { ensureResponder } from './ocsp-responder-certificate.js';
import { canonicalSerial } from './serial.js';
import { caUrls, normalizeBaseUrl, requireCaName } from './urls.js';

export interface InitCaRequest {
  name: string;
  /** The root's subject, e.g. `CN=Example Root CA,O=Example,C=US`. */
  subject: string;
  /** The intermediate's subject; by default the root's with " Issuing CA" added to its CN. */
  intermediateSubject?: string | undefined;
  keySpec?: CaKeySpec | undefined;
  /** Root validity in days (default 3650). */
  days?: number | undefined;
  /** Intermediate validity in days (default half the root's, at most the root's). */
  intermediateDays?: number | undefined;
  baseUrl: string;
}

export interface InitializedCa {
  authority: CaAuthorityRecord;
  rootPem: string;
  intermediatePem: string;
}

export const DEFAULT_CA_KEY_SPEC: CaKeySpec = 'ECC_NIST_P384';
const DEFAULT_ROOT_DAYS = 3650;
const MAX_CA_DAYS = 36500;
const { keyCertSign, cRLSign } = x509.KeyUsageFlags;

function parseSubject(text: string, what: string): x509.Name {
  let name: x509.Name;
  try {
    name = new x509.Name(text);
  } catch {
    throw new CaError('InvalidArgsException', `${what} '${text.slice(0, 200)}' is not a distinguished name; write e.g. "CN=Example Root CA,O=Example,C=US".`);
  }
  if (name.toJSON().length === 0 || text.length > 1024) throw new CaError('InvalidArgsException', `${what} must name the CA, e.g. "CN=Example Root CA,O=Example,C=US".`);
  return name;
}

/** The root's subject with " Issuing CA" appended to its CN (or a CN added), so the two never coincide. */
function derivedIntermediateSubject(root: x509.Name, caName: string): x509.Name {
  const rdns = root.toJSON().map((rdn) => ({ ...rdn }));
  const withCn = rdns.find((rdn) => rdn.CN !== undefined);
  if (withCn) withCn.CN = withCn.CN!.map((cn) => `${cn} Issuing CA`);
  else rdns.push({ CN: [`${caName} Issuing CA`] });
  return new x509.Name(rdns);
}

function days(value: number | undefined, fallback: number, what: string): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < 1 || result > MAX_CA_DAYS) throw new CaError('InvalidArgsException', `${what} must be 1–${MAX_CA_DAYS} days, not ${result}.`);
  return result;
}

export async function initCa(deps: CaDeps, request: InitCaRequest): Promise<InitializedCa> {
  const name = requireCaName(request.name);
  const keySpec = request.keySpec ?? DEFAULT_CA_KEY_SPEC;
  if (!CA_KEY_SPECS.includes(keySpec)) throw new CaError('InvalidArgsException', `--key-spec must be one of ${CA_KEY_SPECS.join(', ')}.`);
  const rootSubject = parseSubject(request.subject, '--subject');
  const intermediateSubject = request.intermediateSubject
    ? parseSubject(request.intermediateSubject, '--intermediate-subject')
    : derivedIntermediateSubject(rootSubject, name);
  if (intermediateSubject.toString() === rootSubject.toString())
    throw new CaError('InvalidArgsException', 'The intermediate needs a subject different from the root’s.');
  const rootDays = days(request.days, DEFAULT_ROOT_DAYS, '--days');
  const intermediateDays = Math.min(days(request.intermediateDays, Math.ceil(rootDays / 2), '--intermediate-days'), rootDays);
  const baseUrl = normalizeBaseUrl(request.baseUrl);
  if (await deps.store.getAuthority(name)) throw new CaError('ResourceAlreadyExistsException', `A CA named '${name}' exists already.`);

  const tags = (role: string) => ({ 'hsmkms:ca': name, 'hsmkms:ca-role': role });
  const rootKey = await deps.kms.createSigningKey(keySpec, `hsmkms CA ${name}: root`, tags('root'));
  const intermediateKey = await deps.kms.createSigningKey(keySpec, `hsmkms CA ${name}: issuing intermediate`, tags('intermediate'));
  const ocspKey = await deps.kms.createSigningKey(keySpec, `hsmkms CA ${name}: OCSP responder`, tags('ocsp'));

  const now = wholeSeconds(deps.now());
  const urls = caUrls(baseUrl, name);
  const rootPublicKey = new x509.PublicKey(rootKey.publicKey);
  const rootKeyId = await keyIdentifier(rootPublicKey);
  const rootValidity = validity(now, rootDays);
  const { certificate: root } = await signCertificate(deps.kms, {
    subject: rootSubject,
    issuer: rootSubject,
    publicKey: rootPublicKey,
    ...rootValidity,
    issuerKeyId: rootKeyId,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(keyCertSign | cRLSign, true)],
    signingKey: kmsSigningKey(rootKey.keyId, keySpec),
  });

  const intermediateValidity = validity(now, intermediateDays);
  const { serial, certificate: intermediate } = await signCertificate(deps.kms, {
    subject: intermediateSubject,
    issuer: root.subjectName,
    publicKey: new x509.PublicKey(intermediateKey.publicKey),
    notBefore: intermediateValidity.notBefore,
    notAfter: new Date(Math.min(intermediateValidity.notAfter.getTime(), rootValidity.notAfter.getTime())),
    issuerKeyId: rootKeyId,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(keyCertSign | cRLSign, true),
      ...issuerUrlExtensions({ crl: urls.rootCrl, caIssuers: urls.rootCertificate, ocsp: urls.ocsp }),
    ],
    signingKey: kmsSigningKey(rootKey.keyId, keySpec),
  });

  const authority: CaAuthorityRecord = {
    name,
    createdAt: now,
    keySpec,
    baseUrl,
    rootKeyId: rootKey.keyId,
    intermediateKeyId: intermediateKey.keyId,
    ocspKeyId: ocspKey.keyId,
    rootCertificate: new Uint8Array(root.rawData),
    intermediateCertificate: new Uint8Array(intermediate.rawData),
  };
  const intermediateRecord: IssuedCertificateRecord = {
    caName: name,
    serial: canonicalSerial(serial),
    issuer: 'root',
    kind: 'intermediate-ca',
    subject: intermediate.subject,
    notBefore: intermediate.notBefore,
    notAfter: intermediate.notAfter,
    issuedAt: now,
    certificate: authority.intermediateCertificate,
  };
  await deps.store.insertAuthority(authority, intermediateRecord);
  // The responders are ready before the first status query (and get renewed on demand).
  const loaded = await loadedAuthority(authority);
  await ensureResponder(deps, loaded, 'intermediate');
  await ensureResponder(deps, loaded, 'root');
  return { authority, rootPem: root.toString('pem'), intermediatePem: intermediate.toString('pem') };
}
