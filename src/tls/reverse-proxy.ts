/**
 * The request handler of `hsmkms tls proxy`: forwards HTTP/1.1 requests to a plain-HTTP
 * upstream over kept-alive connections, streaming bodies both ways, and tells the upstream
 * who the client was (X-Forwarded-For/-Proto/-Host).
 */
import http from 'node:http';
import { pipeline } from 'node:stream';
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

/**
 * A handler forwarding to `upstream` (http://host:port[/prefix]). The client's Host header is
 * kept (and repeated in X-Forwarded-Host); an unreachable upstream answers 502.
 */
export function createReverseProxy(upstream: string): ReverseProxy {
  let target: URL;
  try {
    target = new URL(upstream);
  } catch {
    throw new HsmTlsError('ERR_INVALID_UPSTREAM', `The upstream "${upstream}" is not a URL; write it as http://HOST:PORT.`);
  }
  if (target.protocol !== 'http:') throw new HsmTlsError('ERR_INVALID_UPSTREAM', `The upstream must be plain http:// (TLS ends here), not ${target.protocol}.`);
  const prefix = target.pathname.replace(/\/$/, '');
  const agent = new http.Agent({ keepAlive: true });

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
    outgoing.on('response', (incoming) => {
      response.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, endToEnd(incoming.headers));
      pipeline(incoming, response, () => {
        // A client that went away mid-body: the pipeline already tore both sides down.
      });
    });
    pipeline(request, outgoing, (error) => {
      if (!error) return;
      if (!response.headersSent) {
        response.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('Bad gateway: the upstream could not be reached.\n');
      } else {
        response.destroy();
      }
    });
  };
  return { handler, close: () => agent.destroy() };
}
