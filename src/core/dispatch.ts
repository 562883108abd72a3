/**
 * Runs one operation by registry key (see registry.ts). Authorisation happens inside each
 * operation; the dispatcher wraps them with what every call needs: an authorizer bound to the
 * call (who, how, what: see {@link AuthorizerBinder}), one audit event per call, and a
 * guarantee that only KmsErrors leave (anything else — an HSM fault, a bug — becomes
 * KMSInternalException with a safe message, and its details go to the log).
 */
import { BackendError, KmsError } from './errors.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from './operation.js';
import type { AuthorizerBinder, CallAuthorization, Logger } from './ports.js';
import { StoreError, kmsErrorFromStore } from './store-error.js';

export interface Dispatcher {
  /** Whether `name` (e.g. `Encrypt`, `HsmKms.CreatePrincipal`) is an operation this service implements. */
  has(name: string): boolean;
  /** Runs the operation; throws only KmsError. */
  dispatch(name: string, ctx: RequestContext, input: JsonObject): Promise<JsonObject>;
}

export interface DispatcherOptions {
  /** Binds `deps.authorizer` to each call; without it operations get `deps.authorizer` as is. */
  bindAuthorizer?: AuthorizerBinder;
}

/** CloudTrail writes a refused call's errorCode as `AccessDenied`, not the exception name. */
function auditErrorCode(error: KmsError | undefined): string | undefined {
  if (!error) return undefined;
  return error.type === 'AccessDeniedException' ? 'AccessDenied' : error.type;
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
  if (error instanceof StoreError) return kmsErrorFromStore(error);
  if (error instanceof BackendError) {
    logger.error({ operation, requestId: ctx.requestId, ...error.logFields() }, 'key backend call failed');
    // AWS answers DependencyTimeoutException (503, retryable) when the key store behind KMS does not answer in time.
    if (error.kind === 'timeout')
      return new KmsError('DependencyTimeoutException', 'The key store did not answer in time. Try again later.', { cause: error });
    return new KmsError('KMSInternalException', 'The request failed because of an internal error in the key store. Try again later.', {
      cause: error,
    });
  }
  const err = error instanceof Error ? error : new Error(String(error));
  logger.error({ operation, requestId: ctx.requestId, err: { type: err.name, message: err.message, stack: err.stack } }, 'operation failed unexpectedly');
  return new KmsError('KMSInternalException', 'An internal error occurred. Try again later.', { cause: error });
}

/** Builds the dispatcher over a registry of operations keyed by wire name (`Encrypt`, …). */
export function createDispatcher(
  deps: KmsDeps,
  operations: ReadonlyMap<string, Operation>,
  logger: Logger,
  options: DispatcherOptions = {},
): Dispatcher {
  const { bindAuthorizer } = options;
  function audit(
    name: string,
    ctx: RequestContext,
    input: JsonObject,
    output: JsonObject | undefined,
    error?: KmsError,
    call?: CallAuthorization,
  ): void {
    try {
      const additionalEventData = call?.auditData();
      deps.audit.record({
        eventTime: deps.clock.now(),
        eventName: name,
        requestId: ctx.requestId,
        principalArn: ctx.principal.arn,
        sourceIp: ctx.sourceIp,
        userAgent: ctx.userAgent,
        resources: touchedResources(input, output),
        requestParameters: auditableParameters(input),
        errorCode: auditErrorCode(error),
        errorMessage: error?.message,
        ...(additionalEventData ? { additionalEventData } : {}),
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
      let call: CallAuthorization | undefined;
      try {
        call = bindAuthorizer?.({ operation: name, ctx, input });
        const callCtx = call ? { ...ctx, principal: await call.principal() } : ctx;
        const output = await operation.run(call ? { ...deps, authorizer: call.authorizer } : deps, callCtx, input);
        audit(name, ctx, input, output, undefined, call);
        return output;
      } catch (thrown) {
        const error = toKmsError(thrown, name, ctx, logger);
        audit(name, ctx, input, undefined, error, call);
        throw error;
      }
    },
  };
}
