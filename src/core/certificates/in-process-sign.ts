/**
 * KMS Sign for this process's own CA, handed straight to the dispatcher: the same operation,
 * key resolution, key-policy authorization, quorum rules and audit record as a Sign over HTTP,
 * without the round trip through an SDK client, SigV4 and the HTTP adapter (which cost several
 * times the signature itself on each certificate). The caller is the account root, as the CA's
 * SDK client is; the in-process call context (src/core/in-process-calls.ts) travels with it.
 */
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from '../dispatch.js';
import { KmsError } from '../errors.js';
import { currentInProcessCall } from '../in-process-calls.js';
import type { PrincipalRecord } from '../model.js';
import type { RequestContext } from '../operation.js';
import { blob } from '../validation.js';
import type { CaDigestSigner } from './port.js';

/** What an in-process call says about where it comes from (the audit trail records it). */
const SOURCE = { sourceIp: '127.0.0.1', userAgent: 'hsmkms-ca (in-process)' } as const;

/** Who the in-process calls are made as: an access key and its principal, looked up per call. */
export interface InProcessCaller {
  accessKeyId: string;
  /** The key's principal as a request signed with it would resolve (undefined once the key is gone). */
  principal: () => Promise<PrincipalRecord | undefined>;
}

/** Sign through `dispatcher` as `caller`. */
export function inProcessSigner(dispatcher: Dispatcher, caller: InProcessCaller): CaDigestSigner {
  const { accessKeyId } = caller;
  return async (keyId, algorithm, digest) => {
    const principal = await caller.principal();
    if (!principal) throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    const deadlineMs = dispatcher.deadlineMs;
    const ctx: RequestContext = {
      requestId: randomUUID(),
      principal,
      accessKeyId,
      ...SOURCE,
      secureTransport: false,
      inProcess: currentInProcessCall(),
      deadline: deadlineMs ? Date.now() + deadlineMs : undefined,
    };
    const output = await dispatcher.dispatch('Sign', ctx, { KeyId: keyId, Message: blob(digest), MessageType: 'DIGEST', SigningAlgorithm: algorithm });
    return Buffer.from(output.Signature as string, 'base64');
  };
}
