/**
 * SigV4 authentication as a fastify hook: verifies the signature over the raw request and
 * attaches the caller's principal to the request. Runs before the body is interpreted.
 */
import type { FastifyRequest } from 'fastify';
import { checkSignature, precheckSigV4, type WireRequest } from '../auth/sigv4.js';
import type { CredentialResolver } from '../auth/credentials.js';
import { KmsError } from '../core/errors.js';
import type { PrincipalRecord } from '../core/model.js';

export interface AuthenticatorOptions {
  credentials: CredentialResolver;
  region: string;
  clock: () => Date;
  /** Allowed clock skew in ms (AWS: 5 minutes). */
  maxSkewMs?: number;
}

/** Verifies the request; returns the principal or throws the KmsError a client expects. */
export type Authenticator = (request: FastifyRequest, body: Buffer) => Promise<PrincipalRecord>;

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return async (request, body) => {
    const wire: WireRequest = {
      method: request.raw.method ?? 'POST',
      url: request.raw.url ?? '/',
      rawHeaders: request.raw.rawHeaders,
      body,
    };
    const verifyOptions = { region: options.region, service: 'kms', now: options.clock() };
    const { auth, amzDate } = precheckSigV4(
      wire,
      options.maxSkewMs === undefined ? verifyOptions : { ...verifyOptions, maxSkewMs: options.maxSkewMs },
    );
    const credential = await options.credentials.resolve(auth.accessKeyId);
    if (!credential) {
      request.log.info({ accessKeyId: auth.accessKeyId }, 'unknown access key');
      throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    checkSignature(wire, auth, amzDate, credential.secretAccessKey);
    return credential.principal;
  };
}
