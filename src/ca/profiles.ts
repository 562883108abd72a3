/**
 * The certificate profiles: one table that says, for each kind of leaf, its extended key
 * usage, its key usage per key type, which subjectAltName types it takes and whether it needs
 * one, and its default and maximum validity. `applyProfile` checks a CSR against a row and
 * returns the leaf's extensions (apart from the CA's own key identifiers and URLs).
 */
import 'reflect-metadata';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import type { CheckedCsr, CsrKeyType, RequestedName } from './csr.js';
import { children, element, readElement } from './der.js';
import { CaError } from './errors.js';
import type { CertificateProfileName } from './model.js';

type NameType = 'dns' | 'ip' | 'email' | 'url';

export interface CertificateProfile {
  extendedKeyUsage: string[];
  keyUsage: Record<CsrKeyType, x509.KeyUsageFlags>;
  nameTypes: readonly NameType[];
  /** TLS needs at least one subjectAltName, and the CN (if any) among them. */
  requiresNames: boolean;
  defaultDays: number;
  maxDays: number;
}

const { digitalSignature, keyEncipherment } = x509.KeyUsageFlags;

export const PROFILES: Record<CertificateProfileName, CertificateProfile> = {
  // RSA server keys may also do RSA key transport (TLS 1.2 RSA key exchange).
  'tls-server': {
    extendedKeyUsage: [x509.ExtendedKeyUsage.serverAuth],
    keyUsage: { ec: digitalSignature, rsa: digitalSignature | keyEncipherment },
    nameTypes: ['dns', 'ip'],
    requiresNames: true,
    defaultDays: 90,
    // The CA/Browser Forum's limit, which browsers and linters apply to any TLS server certificate.
    maxDays: 398,
  },
  'tls-client': {
    extendedKeyUsage: [x509.ExtendedKeyUsage.clientAuth],
    keyUsage: { ec: digitalSignature, rsa: digitalSignature },
    nameTypes: ['dns', 'ip', 'email', 'url'],
    requiresNames: true,
    defaultDays: 90,
    maxDays: 398,
  },
  'code-signing': {
    extendedKeyUsage: [x509.ExtendedKeyUsage.codeSigning],
    keyUsage: { ec: digitalSignature, rsa: digitalSignature },
    nameTypes: ['dns', 'email', 'url'],
    requiresNames: false,
    defaultDays: 365,
    // The CA/Browser Forum code-signing limit.
    maxDays: 460,
  },
};

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A host name of LDH labels, optionally with a leading `*.` wildcard label. */
function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels[0] === '*') labels.shift();
  return labels.length > 0 && labels.every((label) => LABEL.test(label));
}

function checkName(name: RequestedName, profile: CertificateProfileName, allowed: readonly NameType[]): NameType {
  const type = name.type;
  if (!allowed.includes(type as NameType))
    throw new CaError('InvalidArgsException', `The ${profile} profile does not take ${type} subjectAltNames ('${name.value.slice(0, 100)}'); use ${allowed.join(', ')}.`);
  const value = name.value;
  if (type === 'dns' && !isDnsName(value)) throw new CaError('InvalidArgsException', `'${value.slice(0, 100)}' is not a valid DNS name.`);
  if (type === 'ip' && isIP(value) === 0) throw new CaError('InvalidArgsException', `'${value.slice(0, 100)}' is not a valid IP address.`);
  // IA5String names hold ASCII; a control byte (a NUL ends a C string early), a space or a byte
  // above 0x7E is never part of a valid address or URI, and URL parsers silently drop some of them.
  if ((type === 'email' || type === 'url') && !/^[\x21-\x7e]+$/.test(value)) throw new CaError('InvalidArgsException', `${JSON.stringify(value.slice(0, 100))} is not a valid ${type === 'email' ? 'e-mail address' : 'URI'}: only printable ASCII without spaces.`);
  if (type === 'email' && !/^[^@\s]{1,64}@[^@\s]{1,253}$/.test(value)) throw new CaError('InvalidArgsException', `'${value.slice(0, 100)}' is not a valid e-mail address.`);
  if (type === 'url' && !URL.canParse(value)) throw new CaError('InvalidArgsException', `'${value.slice(0, 100)}' is not a valid URI.`);
  return type as NameType;
}

/** `OBJECT IDENTIFIER 2.5.29.17` (id-ce-subjectAltName) and `BOOLEAN TRUE`, DER, encoded once by the schema. */
const [SUBJECT_ALT_NAME_OID, DER_TRUE] = (() => {
  const der = new Uint8Array(AsnConvert.serialize(new asn1X509.Extension({ extnID: asn1X509.id_ce_subjectAltName, critical: true, extnValue: new OctetString(0) })));
  const [oid, critical] = children(der, readElement(der, 0));
  return [der.slice(oid!.offset, oid!.end), der.slice(critical!.offset, critical!.end)];
})();

/** The extensions a profile gives every leaf of a key type, encoded once (DER). */
const fixed = new Map<string, readonly Uint8Array[]>();
function fixedExtensions(profileName: CertificateProfileName, keyType: CsrKeyType): readonly Uint8Array[] {
  const id = `${profileName}/${keyType}`;
  let extensions = fixed.get(id);
  if (!extensions) {
    const profile = PROFILES[profileName];
    extensions = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(profile.keyUsage[keyType], true),
      new x509.ExtendedKeyUsageExtension(profile.extendedKeyUsage, false),
    ].map((extension) => new Uint8Array(extension.rawData));
    fixed.set(id, extensions);
  }
  return extensions;
}

/** Profile checks on a verified CSR; returns the profile-specific extensions of the leaf, DER. */
export function applyProfile(profileName: CertificateProfileName, csr: CheckedCsr): Uint8Array[] {
  const profile = PROFILES[profileName];
  if (csr.requestsCa) throw new CaError('InvalidArgsException', 'The CSR asks for a CA certificate (basicConstraints cA=TRUE); this CA issues leaf certificates only.');
  for (const name of csr.names) checkName(name, profileName, profile.nameTypes);
  const commonNames = csr.subject.getField('CN');
  if (profile.requiresNames) {
    if (csr.names.length === 0)
      throw new CaError('InvalidArgsException', `A ${profileName} certificate needs at least one subjectAltName (DNS or IP); the CSR has none.`);
    for (const cn of commonNames) {
      const listed = csr.names.some((n) => (n.type === 'dns' ? n.value.toLowerCase() === cn.toLowerCase() : n.value === cn));
      if (!listed) throw new CaError('InvalidArgsException', `The CSR's common name '${cn.slice(0, 100)}' is not among its subjectAltNames; add it as a SAN.`);
    }
  }
  if (commonNames.length === 0 && csr.names.length === 0)
    throw new CaError('InvalidArgsException', 'The CSR names no one: give a subject CN or a subjectAltName.');

  const extensions = [...fixedExtensions(profileName, csr.keyType)];
  if (csr.subjectAltNameDer && csr.names.length > 0) {
    // The names as requested (DER all the way down, each checked above), copied as they came,
    // in the extension's frame. RFC 5280 §4.2.1.6: critical when the subject is empty.
    const critical = csr.subject.toJSON().length === 0;
    extensions.push(element(0x30, SUBJECT_ALT_NAME_OID, ...(critical ? [DER_TRUE] : []), element(0x04, csr.subjectAltNameDer)));
  }
  return extensions;
}

/** The validity the profile allows: `days` if given (1–max), otherwise the profile's default. */
export function profileDays(profileName: CertificateProfileName, days: number | undefined): number {
  const profile = PROFILES[profileName];
  if (days === undefined) return profile.defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > profile.maxDays)
    throw new CaError('InvalidArgsException', `A ${profileName} certificate may be valid for 1 to ${profile.maxDays} days, not ${days}.`);
  return days;
}
