/**
 * CRLs, one per tier: the intermediate's lists revoked leaves (and responders), the root's
 * lists a revoked intermediate. Each carries a CRL number, the issuer's key identifier and
 * nextUpdate a week out; reason codes on entries except `unspecified` (RFC 5280 §5.3.1).
 *
 * Freshness: the stored CRL is served while it was built from the tier's current revocation
 * epoch and less than half its validity has passed; otherwise the next reader signs a new one
 * (so a revocation is on the CRL at the next fetch, and a served CRL is never near expiry).
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { loadAuthority, type LoadedAuthority } from './authority.js';
import { wholeSeconds } from './certificate-builder.js';
import type { CaDeps } from './deps.js';
import { kmsCrypto, type X509SigningKey } from './kms-crypto.js';
import { REASON_CODES, type IssuerTier, type StoredCrl } from './model.js';

const CRL_VALIDITY_MS = 7 * 86_400_000;

/** Signs a new CRL for the tier now, stores it as current, and returns it. */
export async function signCrl(deps: CaDeps, authority: LoadedAuthority, tier: IssuerTier): Promise<StoredCrl> {
  const { crlNumber, epoch, revoked } = await deps.store.beginCrl(authority.record.name, tier);
  const issuer = authority.certificate(tier);
  const thisUpdate = wholeSeconds(deps.now());
  const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_MS);
  const signingKey = authority.key(tier);
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: issuer.subjectName,
      thisUpdate,
      nextUpdate,
      extensions: [
        new x509.AuthorityKeyIdentifierExtension(authority.keyIds[tier]),
        new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(crlNumber))),
      ],
      entries: revoked.map((entry) => ({
        serialNumber: entry.serial,
        revocationDate: entry.revokedAt,
        // 0 (unspecified) is left out: RFC 5280 says to omit the extension rather than write it.
        reason: REASON_CODES[entry.reason] as x509.X509CrlReason,
      })),
      signingKey: signingKey as unknown as X509SigningKey,
      signingAlgorithm: signingKey.algorithm,
    },
    kmsCrypto(deps.kms, 'crl'),
  );
  const stored: StoredCrl = { crlNumber, epoch, thisUpdate, nextUpdate, crl: new Uint8Array(crl.rawData) };
  await deps.store.saveCrl(authority.record.name, tier, stored);
  return stored;
}

/** The tier's current CRL (DER), signing a new one first when the stored one is stale. */
export async function currentCrl(deps: CaDeps, caName: string, tier: IssuerTier): Promise<Uint8Array> {
  const authority = await loadAuthority(deps, caName);
  const state = await deps.store.crlState(authority.record.name, tier);
  const current = state.current;
  const now = deps.now().getTime();
  if (
    current &&
    current.epoch === state.revocationEpoch &&
    now < current.thisUpdate.getTime() + (current.nextUpdate.getTime() - current.thisUpdate.getTime()) / 2
  )
    return current.crl;
  return (await signCrl(deps, authority, tier)).crl;
}

/** `hsmkms ca crl`: a freshly signed CRL of the intermediate (the one leaves point at), PEM. */
export async function freshCrlPem(deps: CaDeps, caName: string, tier: IssuerTier = 'intermediate'): Promise<string> {
  const authority = await loadAuthority(deps, caName);
  const stored = await signCrl(deps, authority, tier);
  // RFC 7468's label is "X509 CRL" (what OpenSSL reads); @peculiar/x509 would write "CRL".
  return x509.PemConverter.encode(new Uint8Array(stored.crl).buffer, 'X509 CRL');
}
