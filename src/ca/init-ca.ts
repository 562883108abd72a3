/**
 * `ca init`: a two-tier CA whose keys are KMS SIGN_VERIFY keys — a self-signed root
 * (pathLen 1) and an issuing intermediate (pathLen 0) signed by it — plus the delegated OCSP
 * responder's key and certificates. Nothing is recorded until every certificate is signed; a
 * failure part way leaves only KMS keys tagged `hsmkms:ca=NAME` that nothing refers to, and
 * those are scheduled for deletion at once (7 days, KMS's shortest window: cancellable if the
 * failure was a mistake worth undoing).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { loadedAuthority } from './authority.js';
import { StoreError } from '../core/store-error.js';
import { issuerUrlExtensions, keyIdentifier, signCertificate, validity, wholeSeconds, type CertificateOrder } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
import { kmsSigningKey, type KmsSigningKey } from './kms-crypto.js';
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
export const MAX_CA_DAYS = 36500;
/** How long the keys of a failed `ca init` wait before they are destroyed. */
export const ABANDONED_KEY_DELETION_DAYS = 7;
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

/**
 * The issuing intermediate's certificate, signed by the root: what `ca init` issues and
 * `ReissueIntermediate` issues again (same subject, key and extensions; a new serial and validity).
 */
export function intermediateOrder(order: {
  subject: x509.Name;
  root: x509.X509Certificate;
  rootKeyId: string;
  publicKey: x509.PublicKey;
  notBefore: Date;
  notAfter: Date;
  urls: ReturnType<typeof caUrls>;
  rootSigningKey: KmsSigningKey;
}): CertificateOrder {
  return {
    subject: order.subject,
    issuer: order.root.subjectName,
    publicKey: order.publicKey,
    notBefore: order.notBefore,
    // Never beyond the root's own validity.
    notAfter: new Date(Math.min(order.notAfter.getTime(), order.root.notAfter.getTime())),
    issuerKeyId: order.rootKeyId,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(keyCertSign | cRLSign, true),
      ...issuerUrlExtensions({ crl: order.urls.rootCrl, caIssuers: order.urls.rootCertificate, ocsp: order.urls.ocsp }),
    ],
    signingKey: order.rootSigningKey,
    purpose: 'intermediate-certificate',
  };
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
  if (await deps.store.getAuthority(name)) throw alreadyExists(name);

  const created: string[] = [];
  let authority: CaAuthorityRecord;
  let rootPem: string;
  let intermediatePem: string;
  try {
    const tags = (role: string) => ({ 'hsmkms:ca': name, 'hsmkms:ca-role': role });
    const createKey = async (role: string, description: string) => {
      const key = await deps.kms.createSigningKey(keySpec, description, tags(role));
      created.push(key.keyId);
      return key;
    };
    const rootKey = await createKey('root', `hsmkms CA ${name}: root`);
    const intermediateKey = await createKey('intermediate', `hsmkms CA ${name}: issuing intermediate`);
    const ocspKey = await createKey('ocsp', `hsmkms CA ${name}: OCSP responder`);

    const now = wholeSeconds(deps.now());
    const urls = caUrls(baseUrl, name);
    const rootPublicKey = new x509.PublicKey(rootKey.publicKey);
    const rootKeyId = keyIdentifier(rootPublicKey);
    const rootValidity = validity(now, rootDays);
    const { certificate: root } = await signCertificate(deps.kms, {
      subject: rootSubject,
      issuer: rootSubject,
      publicKey: rootPublicKey,
      ...rootValidity,
      issuerKeyId: rootKeyId,
      extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(keyCertSign | cRLSign, true)],
      signingKey: kmsSigningKey(rootKey.keyId, keySpec),
      purpose: 'root-certificate',
    });

    const { serial, certificate: intermediate } = await signCertificate(
      deps.kms,
      intermediateOrder({
        subject: intermediateSubject,
        root,
        rootKeyId,
        publicKey: new x509.PublicKey(intermediateKey.publicKey),
        ...validity(now, intermediateDays),
        urls,
        rootSigningKey: kmsSigningKey(rootKey.keyId, keySpec),
      }),
    );

    authority = {
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
    try {
      await deps.store.insertAuthority(authority, intermediateRecord);
    } catch (error) {
      // Another `ca init` of the same name got there first.
      if (error instanceof StoreError && error.kind === 'conflict' && error.record === 'certificate-authority') throw alreadyExists(name);
      throw error;
    }
    rootPem = root.toString('pem');
    intermediatePem = intermediate.toString('pem');
  } catch (error) {
    throw await abandonKeys(deps, created, error);
  }
  // The responders are ready before the first status query (and get renewed on demand).
  const loaded = await loadedAuthority(authority);
  await ensureResponder(deps, loaded, 'intermediate');
  await ensureResponder(deps, loaded, 'root');
  return { authority, rootPem, intermediatePem };
}

function alreadyExists(name: string): CaError {
  return new CaError('ResourceAlreadyExistsException', `A CA named '${name}' exists already.`);
}

/**
 * After a failed `ca init`: the keys it made are tagged `hsmkms:ca=NAME`, refer to nothing and
 * would otherwise stay forever, so each is scheduled for deletion. Returns the error to throw —
 * the original one, its message saying what became of the keys when it is a CaError.
 */
async function abandonKeys(deps: CaDeps, keyIds: readonly string[], error: unknown): Promise<unknown> {
  if (keyIds.length === 0) return error;
  const left: string[] = [];
  for (const keyId of keyIds) {
    try {
      await deps.kms.scheduleKeyDeletion(keyId, ABANDONED_KEY_DELETION_DAYS);
    } catch {
      left.push(keyId);
    }
  }
  if (!(error instanceof CaError)) return error;
  const scheduled = keyIds.length - left.length;
  const note =
    left.length === 0
      ? ` The ${scheduled} KMS key${scheduled === 1 ? '' : 's'} it had created ${scheduled === 1 ? 'is' : 'are'} scheduled for deletion in ${ABANDONED_KEY_DELETION_DAYS} days.`
      : ` ${left.length} KMS key${left.length === 1 ? '' : 's'} it had created could not be scheduled for deletion; delete ${left.length === 1 ? 'it' : 'them'} yourself: ${left.join(', ')}.`;
  return new CaError(error.type, `${error.message}${note}`, { cause: error });
}
