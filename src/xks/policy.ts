/**
 * Secondary authorization for hsmkms's XKS proxy (XKS proxy API specification v1.0,
 * "Authorization"): beyond SigV4, which proves the caller is AWS KMS holding a credential of the
 * URI prefix, a proxy may decide on the `requestMetadata` AWS KMS sends — who asked AWS KMS,
 * for which KMS operation, through which service, on which KMS key. Here that decision is an
 * IAM-style policy per URI prefix, evaluated by the same evaluator as key policies
 * (src/core/policy), read as a resource policy of the external key:
 *
 * - Principal: `awsPrincipalArn` (the AWS principal that called AWS KMS);
 * - Action: `kms:<kmsOperation>` (`kms:Encrypt`, `kms:GenerateDataKey`, `kms:Decrypt`,
 *   `kms:ReEncrypt`, `kms:CreateKey`, `kms:DescribeKey`, …);
 * - Resource: `kmsKeyArn` (the AWS KMS key in front of the external key);
 * - condition keys: `kms:ViaService` (`kmsViaService`), `kms:CallerAccount`, `aws:PrincipalArn`,
 *   `aws:PrincipalAccount`, `aws:SourceVpc`, `aws:SourceVpce`, and the proxy's own
 *   `xks:Operation` (GetKeyMetadata, Encrypt, Decrypt), `xks:KeyId` (the external key id),
 *   `xks:UriPrefix` and `xks:KmsRequestId`.
 *
 * A request is allowed when an Allow statement applies (naming the principal, its account, or
 * `*`) and no Deny does; otherwise AccessDeniedException (HTTP 403). A prefix without a policy is
 * not checked beyond SigV4. GetHealthStatus carries no principal and is never checked. The AWS
 * encryption context never reaches an XKS proxy (AWS KMS sends its own AAD), so policies cannot
 * test it.
 */
import { compilePolicy, evaluatePolicy, type CompiledPolicy, type RequestFacts } from '../core/policy/index.js';
import { KmsError } from '../core/errors.js';
import { XksError } from './errors.js';
import type { RequestMetadata } from './requests.js';
import type { XksAuthorizer, XksDecision } from './service.js';
import { callerText } from '../core/caller-text.js';

export interface XksPolicyAuthorizer extends XksAuthorizer {
  /** The URI prefixes that have a policy. */
  readonly prefixes: readonly string[];
}

/** Thrown for a policy that does not parse; names the prefix. */
export class XksPolicyError extends Error {
  override readonly name = 'XksPolicyError';
}

/** Compiles every prefix's policy (JSON text) up front: a malformed one is an XksPolicyError. */
export function createXksPolicyAuthorizer(policies: ReadonlyMap<string, string>): XksPolicyAuthorizer {
  const compiled = new Map<string, CompiledPolicy>();
  for (const [prefix, text] of policies) {
    try {
      compiled.set(prefix, compilePolicy(text, { kind: 'resource' }));
    } catch (error) {
      const detail = error instanceof KmsError ? error.message : String(error);
      throw new XksPolicyError(`The XKS policy of URI prefix '${prefix}' is not a policy document: ${detail}`);
    }
  }
  return {
    prefixes: [...compiled.keys()],
    async authorize(request) {
      const policy = compiled.get(request.uriPrefix);
      if (!policy) return { decision: 'NotChecked' };
      const facts = requestFacts(request);
      const result = evaluatePolicy(policy, facts, { kind: 'resource', name: `xks-policy:${request.uriPrefix}` });
      const applying = result.statements.filter((s) => s.applies);
      const statementName = (s: (typeof applying)[number] | undefined) => (s ? (s.sid ?? `#${s.index}`) : undefined);
      if (result.explicitDeny) {
        throw new XksAccessDenied(
          `${who(request.requestMetadata)} may not ${facts.action} through this XKS proxy: an explicit Deny in the URI prefix's policy applies${
            result.workLimitExceeded ? ' (the policy took too long to evaluate)' : ''
          }.`,
          { decision: 'Deny', statement: statementName(applying.find((s) => s.effect === 'Deny')) },
        );
      }
      if (!result.allowedDirectly && !result.allowedViaAccount)
        throw new XksAccessDenied(`${who(request.requestMetadata)} may not ${facts.action} through this XKS proxy: no statement of the URI prefix's policy allows it.`, {
          decision: 'Deny',
        });
      return { decision: 'Allow', statement: statementName(applying.find((s) => s.effect === 'Allow')) };
    },
  };
}

/** AccessDeniedException, with the decision for the audit trail. */
export class XksAccessDenied extends XksError {
  constructor(
    message: string,
    readonly decision: XksDecision,
  ) {
    super('AccessDeniedException', message);
  }
}

function who(metadata: RequestMetadata): string {
  return metadata.awsPrincipalArn ? callerText(metadata.awsPrincipalArn, 256) : 'A caller without an awsPrincipalArn';
}

const ARN = /^arn:([^:]+):[^:]*:[^:]*:(\d{12})?:/;

function requestFacts(request: Parameters<XksAuthorizer['authorize']>[0]): RequestFacts {
  const m = request.requestMetadata;
  const principal = m.awsPrincipalArn ?? '';
  const parsed = ARN.exec(principal);
  const account = parsed?.[2] ?? '';
  return {
    principalArn: principal,
    principalAccountId: account,
    partition: parsed?.[1] ?? 'aws',
    action: `kms:${m.kmsOperation}`,
    resourceArn: m.kmsKeyArn ?? '*',
    // The KMS key is AWS's, in the caller's account or another: never "cross-account" to us.
    resourceAccountId: account,
    context: {
      'kms:ViaService': m.kmsViaService,
      'kms:CallerAccount': account || undefined,
      'aws:PrincipalArn': principal || undefined,
      'aws:PrincipalAccount': account || undefined,
      'aws:SourceVpc': m.awsSourceVpc,
      'aws:SourceVpce': m.awsSourceVpce,
      'xks:Operation': request.operation,
      'xks:KeyId': request.keyId,
      'xks:UriPrefix': request.uriPrefix,
      'xks:KmsRequestId': m.kmsRequestId,
    },
  };
}
