/**
 * TLS secure contexts whose private key stays in the HSM. Callers name the key by its
 * `pkcs11:` URI; how OpenSSL reaches it (today an ENGINE inside Node's OpenSSL, tomorrow an
 * OpenSSL 3 provider once Node can load provider keys) stays behind this function.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { HsmConfig } from '../config/hsm.js';
import { HsmTlsError, toHsmTlsError } from './errors.js';
import { openTlsToken, qualifyKeyUri } from './hsm-token.js';
import { loadAddon, type AddonKeyInfo } from '../native/addon.js';

/** Options of a secure context: Node's own, minus every way of giving a private key in memory. */
export type HsmSecureContextOptions = Omit<tls.SecureContextOptions, 'key' | 'pfx' | 'passphrase' | 'privateKeyEngine' | 'privateKeyIdentifier' | 'cert'> & {
  /** The HSM holding the key (module, token, PIN source), shared with the rest of hsmkms. */
  hsm: HsmConfig;
  /** RFC 7512 URI of the private key, e.g. `pkcs11:object=web-2026;type=private`. */
  keyUri: string;
  /** The certificate chain, leaf first (PEM). Its public key must be the HSM key's. */
  cert: string | Buffer;
};

/** What a context was built from, for SNI selection and diagnostics. */
export interface HsmKeyedCertificate {
  keyUri: string;
  certificate: X509Certificate;
  key: AddonKeyInfo;
}

/**
 * Checks everything that can be checked before the first handshake — the PIN, the token, the
 * key, and that the certificate belongs to the key — and returns the Node options that load
 * the key through the HSM.
 */
export function prepareHsmKey(options: HsmSecureContextOptions): { tlsOptions: tls.SecureContextOptions; keyed: HsmKeyedCertificate } {
  const { hsm, keyUri, cert, ...rest } = options;
  openTlsToken(hsm);
  const uri = qualifyKeyUri(hsm, keyUri);
  const addon = loadAddon();
  let key: AddonKeyInfo;
  try {
    key = addon.describeKey(uri);
  } catch (error) {
    throw toHsmTlsError(error, `Cannot use the TLS key ${keyUri}`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new HsmTlsError('ERR_CERT_INVALID', `The certificate for ${keyUri} is not a PEM or DER X.509 certificate.`);
  }
  const certSpki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  if (!certSpki.equals(key.spki))
    throw new HsmTlsError(
      'ERR_CERT_KEY_MISMATCH',
      `The certificate "${certificate.subject.replace(/\n/g, ', ')}" does not belong to the HSM key ${keyUri}: their public keys differ. Issue the certificate for this key (hsmkms tls keygen writes its CSR), or name the key the certificate was issued for.`,
    );
  return {
    tlsOptions: { ...rest, cert, privateKeyEngine: addon.engineId(), privateKeyIdentifier: uri },
    keyed: { keyUri: uri, certificate, key },
  };
}

/**
 * A TLS secure context whose private key is used in the HSM: signatures are made there,
 * the key never enters this process. Throws HsmTlsError at once for a wrong PIN, a missing
 * token or key, or a certificate that does not match the key.
 */
export function createHsmSecureContext(options: HsmSecureContextOptions): tls.SecureContext {
  const { tlsOptions, keyed } = prepareHsmKey(options);
  try {
    return tls.createSecureContext(tlsOptions);
  } catch (error) {
    throw new HsmTlsError('ERR_TLS_CONTEXT', `OpenSSL refused the HSM key ${keyed.keyUri}: ${(error as Error).message}`);
  }
}
