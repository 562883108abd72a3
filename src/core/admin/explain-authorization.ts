/**
 * HsmKms.ExplainAuthorization: what the authorizer would decide for a principal, an action, a
 * key and a context, and why (role rule, each statement with its conditions, grant, quorum).
 */
import { KmsError } from '../errors.js';
import { explain } from '../authorization/explain.js';
import type { JsonObject, Operation } from '../operation.js';
import { optionalBoolean, optionalString, optionalStringList, optionalStringMap, requiredString } from '../validation.js';
import { userArn } from './principals.js';

export const explainAuthorization: Operation = {
  name: 'ExplainAuthorization',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const principalArn = optionalString(input, 'PrincipalArn', { min: 1, max: 2048 });
    const userName = optionalString(input, 'UserName', { min: 1, max: 64 });
    if ((principalArn === undefined) === (userName === undefined))
      throw new KmsError('ValidationException', 'Give exactly one of PrincipalArn and UserName.');
    const action = requiredString(input, 'Action', { min: 3, max: 200 });
    const keyId = optionalString(input, 'KeyId', { min: 1, max: 2048 });
    const encryptionContext = optionalStringMap(input, 'EncryptionContext');
    const context = parseContext(input.Context);
    const sourceIp = optionalString(input, 'SourceIp', { min: 2, max: 64 });
    const secureTransport = optionalBoolean(input, 'SecureTransport');
    const grantTokens = optionalStringList(input, 'GrantTokens', { max: 10 });
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ExplainAuthorization', context: {} });
    const explanation = await explain(deps, {
      principalArn: principalArn ?? userArn(deps.settings, userName!),
      action,
      keyId,
      encryptionContext,
      context,
      sourceIp,
      secureTransport,
      grantTokens,
      now: deps.clock.now(),
    });
    return { Explanation: explanation };
  },
};

/** `Context`: condition key → a string or a list of strings (at most 50 keys). */
function parseContext(value: unknown): Record<string, string | string[]> | undefined {
  if (value === undefined || value === null) return undefined;
  const bad = () => new KmsError('SerializationException', "Field 'Context' must map condition keys to a string or a list of strings.");
  if (typeof value !== 'object' || Array.isArray(value)) throw bad();
  const entries = Object.entries(value as JsonObject);
  if (entries.length > 50) throw new KmsError('ValidationException', 'Context may hold at most 50 condition keys.');
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of entries) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v) && v.length <= 50 && v.every((x) => typeof x === 'string')) out[k] = v as string[];
    else throw bad();
  }
  return out;
}
