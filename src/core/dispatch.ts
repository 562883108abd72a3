/**
 * Runs one KMS operation by name. Authorisation happens inside each operation; the dispatcher
 * wraps them with what every call needs: one audit event per call, and a guarantee that only
 * KmsErrors leave (anything else — an HSM fault, a bug — becomes KMSInternalException with a
 * safe message, and its details go to the log).
 */
import { HsmError, KmsError } from './errors.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from './operation.js';
import type { Logger } from './ports.js';

export interface Dispatcher {
  /** Whether `name` (e.g. `Encrypt`) is an operation this service implements. */
  has(name: string): boolean;
  /** Runs the operation; throws only KmsError. */
  dispatch(name: string, ctx: RequestContext, input: JsonObject): Promise<JsonObject>;
}

/**
 * Request members never written to the audit trail: plaintext, key material, secrets, and
 * bulky opaque blobs that identify nothing (CloudTrail omits the same).
 */
const OMITTED_PARAMETERS = new Set([
  'Plaintext',
  'CiphertextBlob',
  'SourceCiphertextBlob',
  'Message',
  'Signature',
  'Mac',
  'EncryptedKeyMaterial',
  'ImportToken',
  'KeyMaterial',
  'PrivateKey',
  'SecretAccessKey',
  'GrantTokens',
  'Recipient',
  'XksProxyAuthenticationCredential',
]);
const SECRET_NAME = /secret|password|passphrase|plaintext|pin$/i;

/** The request parameters as the audit trail may hold them (top level only; see above). */
export function auditableParameters(input: JsonObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) {
    if (OMITTED_PARAMETERS.has(name) || SECRET_NAME.test(name)) continue;
    out[name] = value;
  }
  return out;
}

function collectArns(resources: Set<string>, value: unknown): void {
  if (typeof value === 'string' && value.startsWith('arn:') && value.includes(':kms:')) resources.add(value);
}

/** Key ARNs a call touched, from the response (KMS returns key ARNs) and from ARN inputs. */
function touchedResources(input: JsonObject, output: JsonObject | undefined): string[] {
  const resources = new Set<string>();
  for (const field of ['KeyId', 'TargetKeyId', 'DestinationKeyId', 'SourceKeyId']) collectArns(resources, input[field]);
  if (output) {
    for (const field of ['KeyId', 'SourceKeyId', 'DestinationKeyId']) collectArns(resources, output[field]);
    const metadata = output.KeyMetadata;
    if (metadata && typeof metadata === 'object') collectArns(resources, (metadata as Record<string, unknown>).Arn);
  }
  return [...resources];
}

/** Turns anything thrown by an operation into the KmsError the client sees, logging the rest. */
function toKmsError(error: unknown, operation: string, ctx: RequestContext, logger: Logger): KmsError {
  if (error instanceof KmsError) return error;
  if (error instanceof HsmError) {
    logger.error(
      { operation, requestId: ctx.requestId, ckr: error.code, ckrValue: error.ckr, fn: error.fn, kind: error.kind },
      'HSM call failed',
    );
    return new KmsError('KMSInternalException', 'The request failed because of an internal error in the key store. Try again later.', {
      cause: error,
    });
  }
  const err = error instanceof Error ? error : new Error(String(error));
  logger.error({ operation, requestId: ctx.requestId, err: { type: err.name, message: err.message, stack: err.stack } }, 'operation failed unexpectedly');
  return new KmsError('KMSInternalException', 'An internal error occurred. Try again later.', { cause: error });
}

/** Builds the dispatcher over a registry of operations keyed by wire name (`Encrypt`, …). */
export function createDispatcher(deps: KmsDeps, operations: ReadonlyMap<string, Operation>, logger: Logger): Dispatcher {
  function audit(name: string, ctx: RequestContext, input: JsonObject, output: JsonObject | undefined, error?: KmsError): void {
    try {
      deps.audit.record({
        eventTime: deps.clock.now(),
        eventName: name,
        requestId: ctx.requestId,
        principalArn: ctx.principal.arn,
        sourceIp: ctx.sourceIp,
        userAgent: ctx.userAgent,
        resources: touchedResources(input, output),
        requestParameters: auditableParameters(input),
        errorCode: error?.type,
        errorMessage: error?.message,
      });
    } catch (auditError) {
      // The call has already happened in the HSM; failing it now would only hide that.
      logger.error({ operation: name, requestId: ctx.requestId, err: String(auditError) }, 'could not write audit event');
    }
  }

  return {
    has: (name) => operations.has(name),
    async dispatch(name, ctx, input) {
      const operation = operations.get(name);
      if (!operation) {
        const error = new KmsError('UnknownOperationException', `The operation ${name.slice(0, 64)} is not supported.`);
        audit(name.slice(0, 64), ctx, {}, undefined, error);
        throw error;
      }
      try {
        const output = await operation.run(deps, ctx, input);
        audit(name, ctx, input, output);
        return output;
      } catch (thrown) {
        const error = toKmsError(thrown, name, ctx, logger);
        audit(name, ctx, input, undefined, error);
        throw error;
      }
    },
  };
}
