/** An HTTPS server whose certificates' private keys live in the HSM, with SNI over several. */
import { X509Certificate, constants } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import tls from 'node:tls';
import type { HsmConfig } from '../config/hsm.js';
import { HsmTlsError } from './errors.js';
import { prepareHsmKey } from './secure-context.js';

/** One certificate and its HSM key; `ca` is extra chain material sent with it. */
export interface HsmCertificate {
  keyUri: string;
  cert: string | Buffer;
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Node's HTTPS server options, minus in-memory keys, plus the HSM and its certificates. */
export type HsmHttpsServerOptions = Omit<https.ServerOptions, 'key' | 'cert' | 'pfx' | 'passphrase' | 'privateKeyEngine' | 'privateKeyIdentifier' | 'SNICallback'> & {
  hsm: HsmConfig;
  /**
   * The certificates to serve. The first is the default; for a client's SNI name the first
   * certificate valid for that host name (its subjectAltName) is chosen.
   */
  certificates: HsmCertificate[];
  /**
   * Whether clients may resume TLS sessions (default true). Benchmarks turn it off so that
   * every connection is a full handshake signed in the HSM.
   */
  sessionResumption?: boolean;
};

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Creates (does not start) an HTTPS server. Every key is checked against its certificate
 * before this returns, so configuration errors surface at start-up.
 */
export function createHsmHttpsServer(options: HsmHttpsServerOptions, handler?: Handler): https.Server {
  const { hsm, certificates, sessionResumption = true, ...serverOptions } = options;
  if (certificates.length === 0) throw new HsmTlsError('ERR_NO_CERTIFICATE', 'Give at least one certificate and HSM key to serve.');
  const secureOptions = (serverOptions.secureOptions ?? 0) | (sessionResumption ? 0 : constants.SSL_OP_NO_TICKET);
  // RSA key exchange would need the HSM key to decrypt, which the offload refuses (no forward
  // secrecy); not offering those suites makes clients pick ECDHE instead of failing.
  const ciphers = serverOptions.ciphers ?? `${tls.DEFAULT_CIPHERS}:!kRSA`;
  const common: tls.SecureContextOptions = { ...serverOptions, secureOptions, ciphers };
  const prepared = certificates.map((c) => prepareHsmKey({ ...common, hsm, keyUri: c.keyUri, cert: c.cert, ca: c.ca ?? serverOptions.ca }));
  const [first, ...others] = prepared;
  // The server's own context serves the first certificate. An SNICallback costs every
  // handshake a pause into JavaScript, and a context handed back from it makes Node re-install
  // its certificate and key on the connection (SSL_use_certificate, SSL_use_PrivateKey and the
  // key/certificate match check): ~72,000 instructions per ECDSA handshake under callgrind.
  // So there is none with one certificate, and the default is never handed back.
  const alternatives = others.map(({ tlsOptions, keyed }) => ({ certificate: keyed.certificate, context: tls.createSecureContext(tlsOptions) }));
  const sni: Pick<https.ServerOptions, 'SNICallback'> =
    alternatives.length === 0 ? {} : { SNICallback: (servername, callback) => callback(null, pickContext(first!.keyed.certificate, alternatives, servername)) };
  return https.createServer({ ...serverOptions, ...first!.tlsOptions, secureOptions, ciphers, ...sni }, handler);
}

/**
 * The context for a client's SNI name: undefined keeps the server's own (the first
 * certificate), when it is valid for the name or when no certificate is.
 */
function pickContext(
  first: X509Certificate,
  alternatives: Array<{ certificate: X509Certificate; context: tls.SecureContext }>,
  servername: string,
): tls.SecureContext | undefined {
  if (first.checkHost(servername) !== undefined) return undefined;
  return alternatives.find(({ certificate }) => certificate.checkHost(servername) !== undefined)?.context;
}
