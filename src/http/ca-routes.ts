/**
 * The private CA's public endpoints (no authentication: what they serve is public and signed):
 * the CA certificates, the CRLs and the OCSP responder, at the paths src/ca/urls.ts writes into
 * certificates. Errors: a CaError's status with `{"__type","message"}`; OCSP requests that
 * cannot be read get an OCSP `malformedRequest`, never a 500.
 */
import { OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CA_PATHS, CaError, MAX_OCSP_REQUEST_BYTES, OCSP_RESPONSE_VALIDITY_S, answerOcsp, currentCrl, loadAuthority, type CaDeps } from '../ca/index.js';
import { unsignedOcspResponse } from '../ca/ocsp-format.js';

const OCSP_RESPONSE = 'application/ocsp-response';
/** A GET request's path segment: base64 of at most MAX_OCSP_REQUEST_BYTES, URL-encoded (×3 at worst). */
const MAX_OCSP_GET_SEGMENT = Math.ceil((MAX_OCSP_REQUEST_BYTES * 4) / 3) * 3;

function sendCaError(reply: FastifyReply, error: CaError, status = error.httpStatus): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'application/json')
    .send(JSON.stringify({ __type: error.type, message: error.message }));
}

/** Anything but a CaError is our fault: logged, and a generic 500 without detail. */
function sendFailure(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof CaError) {
    if (error.httpStatus >= 500) request.log.warn({ type: error.type, message: error.message }, 'CA request failed');
    return sendCaError(reply, error);
  }
  const err = error instanceof Error ? error : new Error(String(error));
  request.log.error({ err: { type: err.name, message: err.message, stack: err.stack } }, 'CA request failed unexpectedly');
  return reply.code(500).header('content-type', 'application/json').send(JSON.stringify({ __type: 'InternalFailure', message: 'An internal error occurred. Try again later.' }));
}

type NamedRequest = FastifyRequest<{ Params: { name: string } }>;

/** The DER OCSPRequest in a GET path (RFC 6960 appendix A.1), or undefined if it is not base64. */
function ocspRequestFromPath(rawUrl: string, name: string): Uint8Array | undefined {
  const prefix = `${CA_PATHS.ocsp.replace(':name', name)}/`;
  const path = rawUrl.split('?', 1)[0]!;
  if (!path.startsWith(prefix)) return undefined;
  const segment = path.slice(prefix.length);
  if (segment.length === 0 || segment.length > MAX_OCSP_GET_SEGMENT) return undefined;
  let text: string;
  try {
    text = decodeURIComponent(segment);
  } catch {
    return undefined;
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47 || c === 61 || c === 45 || c === 95;
    if (!ok) return undefined;
  }
  return new Uint8Array(Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64'));
}

export function registerCaRoutes(app: FastifyInstance, deps: CaDeps): void {
  app.register(async (scope) => {
    scope.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (error.statusCode === 413)
        return sendCaError(reply, new CaError('InvalidArgsException', `The request body is larger than the ${MAX_OCSP_REQUEST_BYTES}-byte limit.`), 413);
      // What fastify refuses before a handler runs (an unreadable Content-Type, broken framing)
      // is the client's doing: its own status, a message, no 500.
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        request.log.info({ code: error.code, status: error.statusCode }, 'malformed CA request');
        return sendCaError(reply, new CaError('InvalidArgsException', 'The request could not be read. Check its Content-Type, framing and Content-Length.'), error.statusCode);
      }
      return sendFailure(request, reply, error);
    });

    async function certificates(request: NamedRequest, reply: FastifyReply, which: 'chain' | 'root' | 'intermediate') {
      try {
        const authority = await loadAuthority(deps, request.params.name);
        reply.header('cache-control', 'max-age=3600');
        if (which === 'chain')
          return reply
            .header('content-type', 'application/pem-certificate-chain')
            .send(`${authority.root.toString('pem')}\n${authority.intermediate.toString('pem')}\n`);
        const der = which === 'root' ? authority.record.rootCertificate : authority.record.intermediateCertificate;
        return reply.header('content-type', 'application/pkix-cert').send(Buffer.from(der));
      } catch (error) {
        return sendFailure(request, reply, error);
      }
    }
    scope.get(CA_PATHS.chain, (request: NamedRequest, reply) => certificates(request, reply, 'chain'));
    scope.get(CA_PATHS.rootCertificate, (request: NamedRequest, reply) => certificates(request, reply, 'root'));
    scope.get(CA_PATHS.intermediateCertificate, (request: NamedRequest, reply) => certificates(request, reply, 'intermediate'));

    async function crl(request: NamedRequest, reply: FastifyReply, tier: 'root' | 'intermediate') {
      try {
        const der = await currentCrl(deps, request.params.name, tier);
        return reply.header('content-type', 'application/pkix-crl').header('cache-control', 'max-age=300').send(Buffer.from(der));
      } catch (error) {
        return sendFailure(request, reply, error);
      }
    }
    scope.get(CA_PATHS.crl, (request: NamedRequest, reply) => crl(request, reply, 'intermediate'));
    scope.get(CA_PATHS.rootCrl, (request: NamedRequest, reply) => crl(request, reply, 'root'));

    async function ocsp(request: NamedRequest, reply: FastifyReply, der: Uint8Array | undefined, get: boolean) {
      try {
        if (!der) {
          await loadAuthority(deps, request.params.name);
          return reply.code(200).header('content-type', OCSP_RESPONSE).send(Buffer.from(unsignedOcspResponse(OCSPResponseStatus.malformedRequest)));
        }
        const result = await answerOcsp(deps, request.params.name, der);
        // RFC 5019 §6: GET responses without a nonce may be cached until nextUpdate.
        reply.header('cache-control', get && result.cacheable ? `max-age=${OCSP_RESPONSE_VALIDITY_S}, public, no-transform, must-revalidate` : 'no-store');
        return reply.code(200).header('content-type', OCSP_RESPONSE).send(Buffer.from(result.body));
      } catch (error) {
        if (error instanceof CaError && error.type === 'ResourceNotFoundException') return sendCaError(reply, error);
        if (error instanceof CaError && error.type === 'InvalidArgsException') return sendCaError(reply, error);
        // The KMS or the store failed: say so in OCSP's words, so the client retries later.
        request.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'OCSP response could not be signed');
        return reply.code(503).header('retry-after', '10').header('content-type', OCSP_RESPONSE).send(Buffer.from(unsignedOcspResponse(OCSPResponseStatus.tryLater)));
      }
    }
    scope.post(CA_PATHS.ocsp, { bodyLimit: MAX_OCSP_REQUEST_BYTES }, (request: NamedRequest, reply) =>
      ocsp(request, reply, Buffer.isBuffer(request.body) && request.body.length > 0 ? new Uint8Array(request.body) : undefined, false),
    );
    scope.get(`${CA_PATHS.ocsp}/*`, (request: NamedRequest, reply) =>
      ocsp(request, reply, ocspRequestFromPath(request.raw.url ?? '', request.params.name), true),
    );
  });
}
