/**
 * Writes errors the way awsJson1_1 clients read them: `{"__type","message"}` with the status of
 * the KmsError, `x-amzn-RequestId` already set by the server. Never a stack trace.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KmsError, type KmsErrorName } from '../core/errors.js';

/** The awsJson1_1 media type. */
export const AMZ_JSON = 'application/x-amz-json-1.1';

/**
 * Sends an AWS-shaped error. `status` overrides the KmsError's own (413 for oversized bodies);
 * `fields` are extra members of the body (they never replace `__type` or `message`).
 */
export function sendError(
  reply: FastifyReply,
  type: KmsErrorName,
  message: string,
  status: number,
  fields?: Readonly<Record<string, string>>,
): FastifyReply {
  reply.request.kmsOutcome = type;
  // The x-amzn-ErrorType header is what AWS's own protocol tests expect besides __type.
  return reply
    .code(status)
    .header('content-type', AMZ_JSON)
    .header('x-amzn-ErrorType', type)
    .send(Buffer.from(JSON.stringify({ ...fields, __type: type, message })));
}

export function sendKmsError(reply: FastifyReply, error: KmsError): FastifyReply {
  return sendError(reply, error.type, error.message, error.httpStatus, error.fields);
}

/**
 * The last resort for errors fastify raises itself (body too large, broken framing) and for
 * bugs in the adapter: mapped to AWS names, details only in the log.
 */
export function handleServerError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply, bodyLimit: number): FastifyReply {
  if (error instanceof KmsError) return sendKmsError(reply, error);
  const status = (error as FastifyError).statusCode ?? 500;
  if (status === 413)
    return sendError(reply, 'ValidationException', `The request body is larger than the ${bodyLimit}-byte limit.`, 413);
  if (status >= 400 && status < 500) {
    request.log.info({ code: (error as FastifyError).code, status }, 'malformed request');
    return sendError(reply, 'SerializationException', 'The request could not be read. Check its framing and Content-Length.', 400);
  }
  request.log.error({ err: { type: error.name, message: error.message, stack: error.stack } }, 'unhandled error in the HTTP adapter');
  return sendError(reply, 'KMSInternalException', 'An internal error occurred. Try again later.', 500);
}
