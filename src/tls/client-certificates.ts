/**
 * Mutual TLS for an HSM-keyed HTTPS server: clients may present a certificate, and one that does
 * not chain to the client CA or does not name the required subject (DNS name or CN) ends the
 * handshake with a handshake_failure alert — no HTTP exchange at all, as the XKS proxy
 * specification requires and AWS's XKS test client checks. Clients without a certificate still
 * connect (the KMS API does not need one); the application decides what they may do.
 */
import type https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HsmTlsError, toHsmTlsError } from './errors.js';
import { createHsmHttpsServer, type HsmHttpsServerOptions } from './https-server.js';
import { loadAddon } from '../native/addon.js';

export interface ClientCertificatePolicy {
  /** The CA certificate(s) (PEM) client certificates must chain to. */
  ca: string | Buffer;
  /** The name the client certificate must carry, e.g. `cks.kms.us-east-1.amazonaws.com`. */
  subject: string;
}

/**
 * {@link createHsmHttpsServer} with client certificates checked in the handshake (see above).
 * The check runs inside Node's OpenSSL (native/client-verify.cc): Node itself only drops a
 * connection with a bad certificate after the handshake, without an alert.
 */
export function createHsmHttpsServerWithClientCertificates(
  options: HsmHttpsServerOptions,
  policy: ClientCertificatePolicy,
  handler?: (request: IncomingMessage, response: ServerResponse) => void,
): https.Server {
  const addon = loadAddon();
  try {
    addon.armClientVerify(policy.subject);
  } catch (error) {
    throw toHsmTlsError(error, 'Cannot set up client certificate checks');
  }
  let hooked = 0;
  let server: https.Server;
  try {
    server = createHsmHttpsServer({ ...options, ca: policy.ca, requestCert: true, rejectUnauthorized: false }, handler);
  } finally {
    hooked = addon.disarmClientVerify();
  }
  if (hooked < 1) throw new HsmTlsError('ERR_CLIENT_VERIFY', 'The client certificate check could not be attached to the TLS server.');
  return server;
}
