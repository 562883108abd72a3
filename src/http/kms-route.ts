/**
 * `POST /` — the awsJson1_1 protocol: `X-Amz-Target: TrentService.<Operation>` (or another
 * namespace the registry serves, e.g. `HsmKms.<Operation>`), a JSON object body, a JSON object
 * response. Order of checks: authentication (an unauthenticated caller
 * learns nothing), then the target, then the body.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KmsError } from '../core/errors.js';
import { StoreUnavailableError, kmsErrorFromUnavailableStore } from '../core/store-error.js';
import { deadlineExceeded, withDeadline } from '../core/deadline.js';
import type { Dispatcher } from '../core/dispatch.js';
import type { JsonObject, RequestContext } from '../core/operation.js';
import { operationKeyForTarget } from '../core/registry.js';
import { checkRequestInput } from '../core/validation.js';
import { currentInProcessCall } from '../core/in-process-calls.js';
import type { Authenticator } from './authenticate.js';
import { AMZ_JSON, sendError, sendKmsError } from './errors.js';

/** Media types AWS accepts for awsJson1_1 (parameters such as charset allowed). */
const JSON_MEDIA_TYPES = new Set([AMZ_JSON, 'application/json']);

export interface KmsRouteOptions {
  dispatcher: Dispatcher;
  authenticate: Authenticator;
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

function parseBody(body: Buffer): JsonObject {
  if (body.length === 0) return {};
  // Strict UTF-8: decoding turns every invalid byte into U+FFFD, so different bytes on the
  // wire (which the signature tells apart) would become the same string.
  if (!isUtf8(body)) throw new KmsError('SerializationException', 'The request body is not valid UTF-8.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new KmsError('SerializationException', 'The request body is not valid JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new KmsError('SerializationException', 'The request body must be a JSON object.');
  checkRequestInput(parsed as JsonObject);
  return parsed as JsonObject;
}

export function registerKmsRoute(app: FastifyInstance, options: KmsRouteOptions): void {
  const { dispatcher, authenticate } = options;

  app.post('/', async (request: FastifyRequest, reply: FastifyReply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const deadlineMs = dispatcher.deadlineMs;
    const deadline = deadlineMs ? Date.now() + deadlineMs : undefined;
    try {
      // A cached secret answers at once; only a lookup (store, HSM) is bounded by the deadline.
      const authenticating = authenticate(request, body);
      const { principal, accessKeyId } = !(authenticating instanceof Promise)
        ? authenticating
        : await (deadline === undefined ? authenticating : withDeadline(authenticating, deadline, () => deadlineExceeded(deadlineMs!)));
      request.kmsPrincipal = principal.arn;

      const target = request.headers['x-amz-target'];
      const name = typeof target === 'string' ? operationKeyForTarget(target) : undefined;
      if (name === undefined || !dispatcher.has(name))
        throw new KmsError(
          'UnknownOperationException',
          typeof target === 'string' && target !== '' ? `Unknown operation: ${target.slice(0, 100)}` : 'Missing X-Amz-Target header.',
        );
      request.kmsOperation = name;

      if (!JSON_MEDIA_TYPES.has(mediaType(request.headers['content-type'])))
        throw new KmsError('SerializationException', `Content-Type must be ${AMZ_JSON}.`);
      const input = parseBody(body);

      const ctx: RequestContext = {
        requestId: String(request.id),
        principal,
        sourceIp: request.ip,
        userAgent: request.headers['user-agent'],
        accessKeyId,
        // fastify: the socket's TLS, or X-Forwarded-Proto from a trusted proxy.
        secureTransport: request.protocol === 'https',
        // Only code in this process can run a request inside such a context (see in-process-calls.ts).
        inProcess: currentInProcessCall(),
        deadline,
      };
      const output = await dispatcher.dispatch(name, ctx, input);
      request.kmsOutcome = 'ok';
      return reply.code(200).header('content-type', AMZ_JSON).send(Buffer.from(JSON.stringify(output)));
    } catch (error) {
      if (error instanceof KmsError) return sendKmsError(reply, error);
      // Authentication reads the store too: an unreachable store is retryable, not a bug.
      if (error instanceof StoreUnavailableError) {
        request.log.error({ err: error.message }, 'metadata store unavailable');
        return sendKmsError(reply, kmsErrorFromUnavailableStore(error));
      }
      request.log.error(
        { err: { type: (error as Error)?.name, message: (error as Error)?.message, stack: (error as Error)?.stack } },
        'request failed unexpectedly',
      );
      return sendError(reply, 'KMSInternalException', 'An internal error occurred. Try again later.', 500);
    }
  });
}
