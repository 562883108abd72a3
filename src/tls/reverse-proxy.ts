/**
 * The request handler of `hsmkms tls proxy`: forwards HTTP/1.1 requests to a plain-HTTP
 * upstream over kept-alive connections, streaming bodies both ways, and tells the upstream
 * who the client was (X-Forwarded-For/-Proto/-Host).
 */
import http from 'node:http';
import { pipeline } from 'node:stream';
import type { Logger } from '../core/ports.js';
import { RepeatedLines } from '../observability/repeated-lines.js';
import { HsmTlsError } from './errors.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the proxy's own business and not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name) && !listed.has(name)) out[name] = value;
  return out;
}

/** A request handler that forwards to the upstream, and the means to release its connections. */
export interface ReverseProxy {
  handler: (request: http.IncomingMessage, response: http.ServerResponse) => void;
  /** Closes the kept-alive upstream connections. */
  close(): void;
}

/** The default for {@link ReverseProxyOptions.upstreamTimeoutMs}: nginx's `proxy_read_timeout`. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;

export interface ReverseProxyOptions {
  /**
   * An upstream that sends nothing for this long (before or during its answer) is given up: 504
   * when nothing was answered yet, else the client connection is cut. Default 60 s.
   */
  upstreamTimeoutMs?: number;
  /**
   * Where an upstream that cannot be reached, stalls or breaks off its answer is reported (a
   * warning per kind and error code, then at most once a minute with the count held back: every
   * client request meets a down upstream again). Default: nowhere.
   */
  logger?: Logger;
}

/** Why an upstream request was destroyed by the proxy itself. */
class UpstreamTimeout extends Error {}

/**
 * A handler forwarding to `upstream` (http://host:port[/prefix]). The client's Host header is
 * kept (and repeated in X-Forwarded-Host); an unreachable upstream answers 502, a stalled one 504.
 */
export function createReverseProxy(upstream: string, options: ReverseProxyOptions = {}): ReverseProxy {
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  let target: URL;
  try {
    target = new URL(upstream);
  } catch {
    throw new HsmTlsError('ERR_INVALID_UPSTREAM', `The upstream "${upstream}" is not a URL; write it as http://HOST:PORT.`);
  }
  if (target.protocol !== 'http:') throw new HsmTlsError('ERR_INVALID_UPSTREAM', `The upstream must be plain http:// (TLS ends here), not ${target.protocol}.`);
  const prefix = target.pathname.replace(/\/$/, '');
  const agent = new http.Agent({ keepAlive: true });
  const logger = options.logger;
  const upstreamLines = new RepeatedLines();
  const reportUpstream = (message: string, error: Error): void => {
    if (!logger) return;
    const code = typeof (error as { code?: unknown }).code === 'string' ? String((error as { code?: unknown }).code).slice(0, 64) : undefined;
    const admitted = upstreamLines.admit(`${message}\u0000${code ?? ''}`);
    if (admitted) logger.warn({ upstream: target.origin, ...(code ? { code } : {}), ...admitted }, message);
  };

  const handler = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const headers = endToEnd(request.headers);
    const client = request.socket.remoteAddress ?? '';
    const prior = request.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client;
    headers['x-forwarded-proto'] = 'https';
    if (request.headers.host) headers['x-forwarded-host'] = request.headers.host;
    const outgoing = http.request({
      protocol: 'http:',
      hostname: target.hostname,
      port: target.port || 80,
      method: request.method,
      path: prefix + (request.url ?? '/'),
      headers,
      agent,
    });
    outgoing.setTimeout(upstreamTimeoutMs, () => outgoing.destroy(new UpstreamTimeout()));
    outgoing.on('response', (incoming) => {
      response.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, endToEnd(incoming.headers));
      pipeline(incoming, response, () => {
        // A client that went away mid-body: the pipeline already tore both sides down.
      });
    });
    let failed = false;
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      // The client went away mid-request (the pipeline passes its error on to the upstream
      // request): nothing of the upstream's to report. An upstream failure is seen first.
      const report = request.readableAborted ? () => {} : reportUpstream;
      if (response.headersSent) {
        report('upstream broke off its answer: the client connection was cut', error);
        response.destroy();
      } else if (error instanceof UpstreamTimeout) {
        report(`upstream sent nothing for ${Math.round(upstreamTimeoutMs / 1000)} s: answered 504`, error);
        response.writeHead(504, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        response.end(`Gateway timeout: the upstream sent nothing for ${Math.round(upstreamTimeoutMs / 1000)} s.\n`);
      } else {
        report('upstream could not be reached: answered 502', error);
        response.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('Bad gateway: the upstream could not be reached.\n');
      }
    };
    // The request body may be complete (pipeline done) when the upstream stalls: listen on the
    // upstream request itself too.
    outgoing.once('error', fail);
    pipeline(request, outgoing, (error) => {
      if (error && !(error instanceof UpstreamTimeout)) fail(error);
    });
  };
  return { handler, close: () => agent.destroy() };
}
