/**
 * SigV4 authentication as a fastify hook: verifies the signature over the raw request and
 * attaches the caller's principal to the request. Runs before the body is interpreted.
 */
import type { FastifyRequest } from 'fastify';
import { cachedSigningKeys, checkSignature, precheckSigV4, type ParsedAuthorization, type WireRequest } from '../auth/sigv4.js';
import type { CredentialResolver, ResolvedCredential } from '../auth/credentials.js';
import { KmsError } from '../core/errors.js';
import type { PrincipalRecord } from '../core/model.js';
import { callerText } from '../core/caller-text.js';

export interface AuthenticatorOptions {
  credentials: CredentialResolver;
  region: string;
  clock: () => Date;
  /** Allowed clock skew in ms (AWS: 5 minutes). */
  maxSkewMs?: number;
}

/** Who signed a request, and with which access key. */
export interface AuthenticatedCaller {
  principal: PrincipalRecord;
  accessKeyId: string;
}

/**
 * Verifies the request; returns the caller or throws the KmsError a client expects. The answer
 * is immediate when the access key's secret is cached (no promise per request), a promise when
 * it must be looked up.
 */
export type Authenticator = (request: FastifyRequest, body: Buffer) => AuthenticatedCaller | Promise<AuthenticatedCaller>;

/**
 * Headers that must be signed when present: the target selects the operation and the media
 * type how the body is read. The AWS SDKs and the AWS CLI sign both.
 */
const OPERATION_HEADERS = ['x-amz-target', 'content-type'] as const;

/** An access key id as logged: the caller chose its length, and no access key id is longer than 128 characters. */
const loggedId = (accessKeyId: string) => callerText(accessKeyId, 128);

const invalidToken = () => new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const derivedKey = cachedSigningKeys();
  const { credentials } = options;

  function verified(wire: WireRequest, auth: ParsedAuthorization, amzDate: string, credential: ResolvedCredential): AuthenticatedCaller {
    const secret = credential.secretAccessKey;
    checkSignature(wire, auth, amzDate, secret, derivedKey(auth, secret));
    return { principal: credential.principal, accessKeyId: auth.accessKeyId };
  }

  return (request, body) => {
    const wire: WireRequest = {
      method: request.raw.method ?? 'POST',
      url: request.raw.url ?? '/',
      rawHeaders: request.raw.rawHeaders,
      body,
    };
    const verifyOptions = { region: options.region, service: 'kms', now: options.clock(), signedWhenPresent: OPERATION_HEADERS };
    const { auth, amzDate } = precheckSigV4(
      wire,
      options.maxSkewMs === undefined ? verifyOptions : { ...verifyOptions, maxSkewMs: options.maxSkewMs },
    );
    // No temporary (STS) credentials exist here, so no session token can be valid.
    if (request.headers['x-amz-security-token'] !== undefined) {
      request.log.info({ accessKeyId: loggedId(auth.accessKeyId) }, 'request with a session token');
      throw invalidToken();
    }
    const cached = credentials.cached?.(auth.accessKeyId);
    if (cached) return verified(wire, auth, amzDate, cached);
    return credentials.resolve(auth.accessKeyId).then((credential) => {
      if (!credential) {
        request.log.info({ accessKeyId: loggedId(auth.accessKeyId) }, 'unknown access key');
        throw invalidToken();
      }
      return verified(wire, auth, amzDate, credential);
    });
  };
}
