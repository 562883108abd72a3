/**
 * Calls this process makes to its own API (the private CA signs through the KMS API in-process,
 * src/app.ts): what such a call says about itself, carried in an async context from the code
 * that makes it to the HTTP adapter that receives it through `inject()`.
 *
 * Why a context and not a header: a header could be sent by anyone who reaches the port; an
 * async context exists only inside this process, so a request from a socket never carries one.
 * The HTTP adapter copies it into {@link RequestContext.inProcess}; the authorizer reads it there.
 */
import { OnDemandContext } from './on-demand-context.js';

export interface InProcessCall {
  /**
   * Why quorum does not apply to this call (written to its audit record). Set only by the CA's
   * own KMS client, for signatures that are either automatic (CRLs re-signed before they go
   * stale, OCSP responder certificates renewed, OCSP responses) or part of a CA operation whose
   * caller was authorized — quorum included — before the CA ran (`HsmKms.IssueCertificate`, …).
   * Such signatures cover fresh serials and times, so no approval could ever match them: quorum
   * is enforced on the operation that asks for them instead.
   */
  quorumExemption?: string | undefined;
  /** The API call this one serves (`HsmKms.IssueCertificate` request id and caller), for the audit trail. */
  onBehalfOf?: { operation: string; requestId: string; principalArn: string } | undefined;
}

/** Enabled only while the CA has a call in progress: requests from sockets pay no async hooks for it. */
const calls = new OnDemandContext<InProcessCall>();

/** Runs `fn` with `call` as the in-process call context (merged over the enclosing one). */
export function runInProcess<T>(call: InProcessCall, fn: () => Promise<T>): Promise<T> {
  const outer = calls.getStore();
  return calls.run({ ...outer, ...call }, fn);
}

/** The in-process call context of the running code, if it runs inside {@link runInProcess}. */
export function currentInProcessCall(): InProcessCall | undefined {
  return calls.getStore();
}
