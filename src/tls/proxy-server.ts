/**
 * `hsmkms tls proxy` as one piece: the HTTPS server with HSM keys, the reverse proxy, and the
 * timeouts that keep a slow or stalled client (or upstream) from holding a connection forever —
 * the handshake, the request headers, the whole request, silence on a connection, an idle
 * keep-alive connection, and the upstream's answer.
 */
import type https from 'node:https';
import { applyTimeouts, resolveTimeouts, timeoutOptions, type HttpTimeouts } from '../http/timeouts.js';
import { createHsmHttpsServer, type HsmHttpsServerOptions } from './https-server.js';
import type { Logger } from '../core/ports.js';
import { logHandshakeFailures } from './handshake-log.js';
import { createReverseProxy, DEFAULT_UPSTREAM_TIMEOUT_MS } from './reverse-proxy.js';

export interface ProxyTimeouts extends HttpTimeouts {
  /** The TLS handshake must finish within this many ms of the connection. */
  handshakeMs: number;
  /** The upstream may send nothing for this long before the client gets a 504. */
  upstreamMs: number;
}

/**
 * A proxy forwards bodies of any size (uploads), so the whole-request deadline is Node's own
 * 300 s rather than the KMS API's 30 s; headers, a handshake and silence are bounded as tightly
 * as for the API. nginx's defaults for the same jobs are 60 s each.
 */
export const DEFAULT_PROXY_TIMEOUTS: Readonly<ProxyTimeouts> = {
  handshakeMs: 10_000,
  headersMs: 10_000,
  requestMs: 300_000,
  idleMs: 60_000,
  keepAliveMs: 72_000,
  upstreamMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
};

/** Fills in defaults and checks them; throws RangeError with a readable message. */
export function resolveProxyTimeouts(given: Partial<ProxyTimeouts> = {}): ProxyTimeouts {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ProxyTimeouts>;
  const { handshakeMs, upstreamMs, ...http } = { ...DEFAULT_PROXY_TIMEOUTS, ...defined };
  for (const [name, value] of Object.entries({ handshakeMs, upstreamMs }))
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`timeout ${name} must be a positive whole number of ms, got ${value}`);
  // The headers default shrinks to a shorter request timeout, as for the API.
  const headers = defined.headersMs === undefined ? Math.min(http.headersMs, http.requestMs) : http.headersMs;
  return { ...resolveTimeouts({ ...http, headersMs: headers }), handshakeMs, upstreamMs };
}

export interface TlsProxyOptions extends Omit<HsmHttpsServerOptions, 'handshakeTimeout' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout'> {
  /** http://host:port[/prefix] */
  upstream: string;
  timeouts?: Partial<ProxyTimeouts>;
  /** Where handshakes the HSM could not sign and upstream failures are reported (handshake-log.ts, reverse-proxy.ts). */
  logger?: Logger;
}

/** Creates (does not start) the proxy; `close()` stops it and drops every connection. */
export function createTlsProxy(options: TlsProxyOptions): { server: https.Server; timeouts: ProxyTimeouts; close(): void } {
  const { upstream, timeouts: given, logger, ...serverOptions } = options;
  const timeouts = resolveProxyTimeouts(given);
  const reverse = createReverseProxy(upstream, { upstreamTimeoutMs: timeouts.upstreamMs, ...(logger ? { logger } : {}) });
  const server = applyTimeouts(
    createHsmHttpsServer({ ...serverOptions, ...timeoutOptions(timeouts).http, handshakeTimeout: timeouts.handshakeMs }, reverse.handler),
    timeouts,
  );
  if (logger) logHandshakeFailures(server, logger);
  return {
    server,
    timeouts,
    close() {
      server.close();
      server.closeAllConnections();
      reverse.close();
    },
  };
}
