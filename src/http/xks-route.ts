/**
 * `POST /{uriPrefix}/kms/xks/v1/health` and `…/keys/{keyId}/{metadata,encrypt,decrypt}`: hsmkms
 * as an XKS proxy for AWS KMS (XKS proxy API specification v1.0). Order of checks: the method
 * (405 for anything but POST), SigV4 for service `kms-xks-proxy` (the signed headers exactly as
 * SignedHeaders names them, the raw body hashed), the credential's URI prefix, the path, the
 * body. Errors are one-line `{"errorName","errorMessage"}` with the specification's status.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { cachedSigningKeys, checkSignature, precheckSigV4, type ParsedAuthorization, type WireRequest } from '../auth/sigv4.js';
import { auditParameters } from '../core/audit-parameters.js';
import { KmsError } from '../core/errors.js';
import type { AuditSink } from '../core/ports.js';
import type { Metrics } from '../observability/metrics.js';
import type { XksCredentialResolver } from '../xks/credentials.js';
import { XksError, xksError } from '../xks/errors.js';
import { XksAccessDenied } from '../xks/policy.js';
import { XKS_KEY_ID, parseBody, parseDecryptRequest, parseEncryptRequest, parseHealthRequest, parseMetadataRequest, type RequestMetadata } from '../xks/requests.js';
import type { XksCallNote, XksProxy } from '../xks/service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the XKS request was about, for its log line (never plaintext). */
    xks?: { operation: string; uriPrefix?: string; keyId?: string; metadata?: RequestMetadata; outcome?: string };
  }
}

export interface XksRouteOptions {
  proxy: XksProxy;
  credentials: XksCredentialResolver;
  metrics: Metrics;
  clock: () => Date;
  /**
   * With mutual TLS configured: the client certificate the XKS paths require (verified against
   * the client CA by TLS; here its subject, CN or SAN, must be this name).
   */
  clientSubject?: string | undefined;
  /**
   * The audit trail: every authenticated XKS call is recorded (as `Xks.<Operation>`) before its
   * answer is sent, as KMS calls are; while the trail cannot be written, calls are refused.
   */
  audit?: AuditSink | undefined;
}

/** XKS bodies are at most ~17 KiB of base64 and metadata; this leaves room and stops abuse. */
const XKS_BODY_LIMIT = 64 * 1024;
const API_ROOT = '/kms/xks/v1/';
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const OPERATIONS = { metadata: 'GetKeyMetadata', encrypt: 'Encrypt', decrypt: 'Decrypt' } as const;

export function registerXksRoutes(app: FastifyInstance, options: XksRouteOptions): void {
  const derivedKey = cachedSigningKeys();
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = (request.raw.url ?? '/').split('?', 1)[0]!;
    const at = path.lastIndexOf(API_ROOT);
    if (at < 0) return reply.callNotFound();
    const uriPrefix = at === 0 ? '' : path.slice(1, at);
    const rest = path.slice(at + API_ROOT.length);
    request.xks = { operation: 'unknown', uriPrefix };
    /** Set once SigV4 has proven the caller: from then on the call is audited. */
    let accessKeyId: string | undefined;
    let body: Record<string, unknown> = {};
    const note: XksCallNote = {};
    try {
      if (request.method !== 'POST')
        return sendError(reply.header('allow', 'POST'), new XksError('ValidationException', `The XKS API takes POST requests only, not ${request.method}.`), 405);
      requireClientCertificate(request, options.clientSubject);
      const credential = await authenticate(request, options, derivedKey);
      accessKeyId = credential.accessKeyId;
      if (options.audit?.accepting && !options.audit.accepting()) {
        accessKeyId = undefined;
        throw new XksError('DependencyTimeoutException', 'The request was refused because the audit trail cannot be written. Try again later.');
      }
      if (credential.uriPrefix !== uriPrefix)
        throw new XksError('InvalidUriPathException', `The URI path prefix '${uriPrefix.slice(0, 200)}' is not the one of this credential.`);
      body = parseBody(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      const result = await answer(request, options, uriPrefix, rest, path, body, note);
      await audit(request, options, credential.accessKeyId, body, note);
      return sendJson(reply, result);
    } catch (error) {
      const xks = error instanceof XksError ? error : undefined;
      if (!xks)
        request.log.error({ err: { type: (error as Error)?.name, message: (error as Error)?.message, stack: (error as Error)?.stack } }, 'XKS request failed unexpectedly');
      const sent = xks ?? xksError.internal('An internal error occurred.');
      if (accessKeyId !== undefined && !(error instanceof AuditUnwritten)) {
        if (error instanceof XksAccessDenied) note.decision = error.decision;
        // A refusal is answered even when its record cannot be written: it gives nothing away.
        await audit(request, options, accessKeyId, body, note, sent).catch(() => undefined);
      }
      return sendError(reply, sent);
    }
  };

  app.route({
    method: ['POST', 'GET', 'PUT', 'DELETE', 'PATCH'],
    url: '/*',
    bodyLimit: XKS_BODY_LIMIT,
    handler,
    // Framing errors fastify raises itself (an oversized body, a broken Content-Length).
    errorHandler: (error: FastifyError, request, reply) => {
      if (!request.xks) return reply.callNotFound();
      const status = error.statusCode ?? 500;
      if (status === 413) return sendError(reply, xksError.validation(`The request body is larger than ${XKS_BODY_LIMIT} bytes.`));
      if (status >= 400 && status < 500) return sendError(reply, xksError.validation('The request could not be read. Check its framing and Content-Length.'));
      request.log.error({ err: { type: error.name, message: error.message } }, 'unhandled error in the XKS route');
      return sendError(reply, xksError.internal('An internal error occurred.'));
    },
    onRequest: (request, _reply, done) => {
      // Marks XKS-shaped paths early, so framing errors before the handler are answered XKS-style.
      if ((request.raw.url ?? '').includes(API_ROOT)) request.xks = { operation: 'unknown' };
      done();
    },
    onResponse: (request, reply, done) => {
      const xks = request.xks;
      if (xks) {
        const outcome = xks.outcome ?? (reply.statusCode < 400 ? 'ok' : 'error');
        options.metrics.observeRequest(`Xks${xks.operation === 'unknown' ? 'Unknown' : xks.operation}`, outcome, reply.elapsedTime / 1000);
        const m = xks.metadata;
        // The specification asks for requestMetadata and timing in the log, never plaintext.
        const line = {
          xksOperation: xks.operation,
          uriPrefix: xks.uriPrefix,
          keyId: xks.keyId,
          kmsRequestId: m?.kmsRequestId,
          kmsOperation: m?.kmsOperation,
          awsPrincipalArn: m?.awsPrincipalArn,
          kmsKeyArn: m?.kmsKeyArn,
          kmsViaService: m?.kmsViaService,
          outcome,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 100) / 100,
        };
        if (reply.statusCode >= 500) request.log.warn(line, 'XKS request failed');
        else request.log.info(line, 'XKS request');
      }
      done();
    },
  });
}

/** Runs the operation the path names; sets the log's operation, key id and metadata on the way. */
async function answer(
  request: FastifyRequest,
  options: XksRouteOptions,
  uriPrefix: string,
  rest: string,
  path: string,
  body: Record<string, unknown>,
  note: XksCallNote,
): Promise<Record<string, unknown>> {
  const xks = request.xks!;
  if (rest === 'health') {
    xks.operation = 'GetHealthStatus';
    xks.metadata = parseHealthRequest(body);
    return options.proxy.getHealthStatus();
  }
  const parts = rest.split('/');
  const operation = parts.length === 3 && parts[0] === 'keys' ? OPERATIONS[parts[2] as keyof typeof OPERATIONS] : undefined;
  if (!operation || !XKS_KEY_ID.test(parts[1]!)) throw new XksError('InvalidUriPathException', `No XKS API at ${path.slice(0, 200)}.`);
  const keyId = parts[1]!;
  xks.operation = operation;
  xks.keyId = keyId;
  switch (operation) {
    case 'GetKeyMetadata': {
      const metadata = parseMetadataRequest(body);
      xks.metadata = metadata;
      return options.proxy.getKeyMetadata(uriPrefix, keyId, metadata, note);
    }
    case 'Encrypt': {
      const input = parseEncryptRequest(body);
      xks.metadata = input.requestMetadata;
      return options.proxy.encrypt(uriPrefix, keyId, input, note);
    }
    case 'Decrypt': {
      const input = parseDecryptRequest(body);
      xks.metadata = input.requestMetadata;
      return options.proxy.decrypt(uriPrefix, keyId, input, note);
    }
  }
}

/** The call's record could not be written: the answer is withheld (503), as for KMS calls. */
class AuditUnwritten extends XksError {
  constructor() {
    super('DependencyTimeoutException', 'The result was withheld because its audit record could not be written; try again later.');
  }
}

/**
 * Records an authenticated XKS call in the audit trail: `Xks.<Operation>`, by the AWS principal
 * behind it (`awsPrincipalArn`; the credential when the request names none), on the AWS KMS key
 * it names; the parameters of AUDITED_PARAMETERS (never plaintext, ciphertext or AAD), the
 * credential, URI prefix and the secondary authorization's decision.
 */
async function audit(request: FastifyRequest, options: XksRouteOptions, accessKeyId: string, body: Record<string, unknown>, note: XksCallNote, error?: XksError): Promise<void> {
  if (!options.audit) return;
  const xks = request.xks!;
  const operation = xks.operation === 'unknown' ? 'Unknown' : xks.operation;
  const m = xks.metadata;
  try {
    await options.audit.record({
      eventTime: options.clock(),
      eventName: `Xks.${operation}`,
      requestId: request.id,
      principalArn: m?.awsPrincipalArn ?? `xks-credential/${accessKeyId}`,
      sourceIp: request.ip,
      userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'].slice(0, 256) : undefined,
      resources: m?.kmsKeyArn ? [m.kmsKeyArn] : [],
      requestParameters: auditParameters(`Xks.${operation}`, { ...body, ...(xks.keyId !== undefined ? { keyId: xks.keyId } : {}) }),
      errorCode: error?.errorName,
      errorMessage: error?.message,
      additionalEventData: {
        xks: { uriPrefix: xks.uriPrefix, accessKeyId, ...(note.decision ? { secondaryAuthorization: note.decision } : {}) },
      },
    });
  } catch (auditError) {
    request.log.error({ xksOperation: operation, err: String(auditError) }, 'audit record not written; XKS result withheld from the caller');
    throw new AuditUnwritten();
  }
}

/** Verifies SigV4 (service `kms-xks-proxy`, any well-formed region) and returns the credential. */
async function authenticate(request: FastifyRequest, options: XksRouteOptions, derivedKey: (auth: ParsedAuthorization, secret: string) => Buffer) {
  const wire: WireRequest = {
    method: request.raw.method ?? 'POST',
    url: request.raw.url ?? '/',
    rawHeaders: request.raw.rawHeaders,
    body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
  };
  try {
    const { auth, amzDate } = precheckSigV4(wire, { region: REGION, service: 'kms-xks-proxy', now: options.clock() });
    const credential = await options.credentials.resolve(auth.accessKeyId);
    if (!credential) throw new XksError('AuthenticationFailedException', 'The access key id in the request is not a credential of this XKS proxy.');
    checkSignature(wire, auth, amzDate, credential.secretAccessKey, derivedKey(auth, credential.secretAccessKey));
    return { uriPrefix: credential.uriPrefix, accessKeyId: auth.accessKeyId };
  } catch (error) {
    if (error instanceof KmsError) throw new XksError('AuthenticationFailedException', error.message);
    throw error;
  }
}

/** With mTLS: the XKS paths need a verified client certificate with the configured subject. */
function requireClientCertificate(request: FastifyRequest, subject: string | undefined): void {
  if (subject === undefined) return;
  const socket = request.raw.socket as TLSSocket;
  if (!socket.encrypted || !socket.authorized)
    throw new XksError('AuthenticationFailedException', 'The XKS API on this server needs a TLS client certificate from its client CA.');
  const cert = socket.getPeerCertificate();
  const names = [cert.subject?.CN, ...(cert.subjectaltname ?? '').split(', ').map((n) => n.replace(/^DNS:/, ''))].flat();
  if (!names.includes(subject)) throw new XksError('AuthenticationFailedException', `The TLS client certificate is not for ${subject}.`);
}

function sendJson(reply: FastifyReply, body: Record<string, unknown>): FastifyReply {
  return reply.code(200).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

function sendError(reply: FastifyReply, error: XksError, status = error.status): FastifyReply {
  if (reply.request.xks) reply.request.xks.outcome = error.errorName;
  return reply.code(status).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(error.toJSON())));
}
