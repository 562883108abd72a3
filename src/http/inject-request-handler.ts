/**
 * An AWS SDK v3 request handler that hands each request to a fastify server's `inject()`
 * instead of a socket: an SDK client (here, the CA's KMS client) talks to this very process
 * through the full HTTP path — SigV4, routing, authorisation, audit — without a port being
 * opened, so nothing else on the machine can reach it and nothing can race for the port.
 */
import type { FastifyInstance } from 'fastify';

/** The fields of the SDK's HttpRequest used here (structurally typed: no dependency on @smithy/types). */
interface SdkHttpRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

function queryString(query: SdkHttpRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === null) params.append(name, '');
    else for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function payload(body: unknown): string | Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new Error('in-process requests take string or byte bodies only');
}

/** A `requestHandler` for an SDK client; `server` is read per request (it may be built after the client). */
export function injectRequestHandler(server: () => FastifyInstance) {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request: SdkHttpRequest) {
      const response = await server().inject({
        method: request.method as 'POST',
        url: `${request.path}${queryString(request.query)}`,
        headers: request.headers,
        payload: payload(request.body),
      });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
      }
      return { response: { statusCode: response.statusCode, headers, body: new Uint8Array(response.rawPayload) } };
    },
    updateHttpClientConfig(): void {},
    httpHandlerConfigs(): Record<string, never> {
      return {};
    },
    destroy(): void {},
  };
}
