/**
 * TLS offload: HTTPS servers and secure contexts whose private keys stay in the HSM, keys
 * and CSRs made in the token, and a TLS-terminating reverse proxy.
 */
import { loadAddon, type HsmTlsStats } from '../native/addon.js';

export { createHsmSecureContext, prepareHsmKey, type HsmSecureContextOptions, type HsmKeyedCertificate } from './secure-context.js';
export { createHsmHttpsServer, type HsmHttpsServerOptions, type HsmCertificate } from './https-server.js';
export { generateTlsKey, createTlsCsr, TLS_KEY_SPECS, type TlsKeySpec, type GeneratedTlsKey, type CsrRequest } from './keygen.js';
export { createReverseProxy, type ReverseProxy, type ReverseProxyOptions } from './reverse-proxy.js';
export { createTlsProxy, resolveProxyTimeouts, DEFAULT_PROXY_TIMEOUTS, type ProxyTimeouts, type TlsProxyOptions } from './proxy-server.js';
export { followPin, forgetTlsObjects, openTlsToken, qualifyKeyUri } from './hsm-token.js';
export { HsmTlsError } from './errors.js';
export type { HsmTlsStats } from '../native/addon.js';
export { createHsmHttpsServerWithClientCertificates, type ClientCertificatePolicy } from './client-certificates.js';

/** Sign operations made in tokens by this process, session reconnects and session copies, since start. */
export function hsmTlsStats(): HsmTlsStats {
  return loadAddon().stats();
}
