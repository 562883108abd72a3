/**
 * Runs one operation by registry key (see registry.ts). Authorisation happens inside each
 * operation; the dispatcher wraps them with what every call needs: an authorizer bound to the
 * call (who, how, what: see {@link AuthorizerBinder}), one audit event per call, durable before
 * the answer (the sink's promise is awaited; while the sink cannot write, calls are refused
 * before they run), and a guarantee that only KmsErrors leave (anything else — an HSM fault, a
 * bug — becomes KMSInternalException with a safe message, and its details go to the log).
 */
import { auditParameters } from './audit-parameters.js';
import { deadlineExceeded, withDeadline } from './deadline.js';
import { BackendError, KmsError } from './errors.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from './operation.js';
import type { AuthorizerBinder, CallAuthorization, Logger, RequestReadScope } from './ports.js';
import { StoreError, StoreUnavailableError, kmsErrorFromStore, kmsErrorFromUnavailableStore } from './store-error.js';
import { callerText } from './caller-text.js';

export interface Dispatcher {
  /** Whether `name` (e.g. `Encrypt`, `HsmKms.CreatePrincipal`) is an operation this service implements. */
  has(name: string): boolean;
  /** Runs the operation; throws only KmsError. */
  dispatch(name: string, ctx: RequestContext, input: JsonObject): Promise<JsonObject>;
  /** How long a call may take (see {@link DispatcherOptions.deadlineMs}); callers set `ctx.deadline` from it. */
  readonly deadlineMs?: number | undefined;
}

export interface DispatcherOptions {
  /** Binds `deps.authorizer` to each call; without it operations get `deps.authorizer` as is. */
  bindAuthorizer?: AuthorizerBinder;
  /**
   * How long an operation may run before the caller gets DependencyTimeoutException (default:
   * no limit). It bounds every wait inside — the store, the HSM, a custom key store — whatever
   * their own timeouts; an operation still running then may yet take effect (as after any
   * timeout), which the log records.
   */
  deadlineMs?: number;
}

/** CloudTrail writes a refused call's errorCode as `AccessDenied`, not the exception name. */
function auditErrorCode(error: KmsError | undefined): string | undefined {
  if (!error) return undefined;
  return error.type === 'AccessDeniedException' ? 'AccessDenied' : error.type;
}

/** AWS's limit on a KeyId, ARN included; a longer "ARN" names nothing and is not copied. */
const MAX_ARN_LENGTH = 2048;

function collectArns(resources: Set<string>, value: unknown): void {
  if (typeof value === 'string' && value.length <= MAX_ARN_LENGTH && value.startsWith('arn:') && value.includes(':kms:')) resources.add(value);
}

/** Key ARNs a call touched, from the response (KMS returns key ARNs) and from ARN inputs. */
function touchedResources(input: JsonObject, output: JsonObject | undefined, authorizedKeys: string[] = []): string[] {
  // The keys the authorizer resolved come first: a call naming a key by id or alias is recorded
  // under the key's ARN, as CloudTrail does.
  const resources = new Set<string>(authorizedKeys);
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
  if (error instanceof StoreUnavailableError) {
    logger.error({ operation, requestId: ctx.requestId, err: error.message }, 'metadata store unavailable');
    return kmsErrorFromUnavailableStore(error);
  }
  if (error instanceof BackendError) {
    // The key store's refusal of the service's login is one state that every caller meets while it
    // lasts: the backend logged it when it began (rate-limited after), a line per request would flood the log.
    if (error.kind === 'credentials')
      return new KmsError(
        'KMSInternalException',
        "The key store's HSM refused this service's login, so no KMS key can be used. An operator must put the right HSM PIN in the service's PIN source (the server log names the HSM's reason). Try again later.",
        { cause: error },
      );
    logger.error({ operation, requestId: ctx.requestId, ...error.logFields() }, 'key backend call failed');
    // AWS answers DependencyTimeoutException (503, retryable) when the key store behind KMS does not answer in time.
    if (error.kind === 'timeout')
      return new KmsError('DependencyTimeoutException', 'The key store did not answer in time. Try again later.', { cause: error });
    // As for a custom key store's key whose token object went (key-stores/keys.ts): not retryable.
    if (error.kind === 'missing')
      return new KmsError('KMSInvalidStateException', 'The key material of this KMS key is not in its HSM: it was deleted or changed outside hsmkms.', { cause: error });
    return new KmsError('KMSInternalException', 'The request failed because of an internal error in the key store. Try again later.', {
      cause: error,
    });
  }
  const err = error instanceof Error ? error : new Error(String(error));
  logger.error({ operation, requestId: ctx.requestId, err: { type: err.name, message: err.message, stack: err.stack } }, 'operation failed unexpectedly');
  return new KmsError('KMSInternalException', 'An internal error occurred. Try again later.', { cause: error });
}

/**
 * The answer while the audit trail cannot be written: retryable, and 503 so that load balancers
 * and SDK retry policies treat it as the temporary outage it is.
 */
function auditUnavailable(message: string): KmsError {
  return new KmsError('DependencyTimeoutException', message);
}

/** Builds the dispatcher over a registry of operations keyed by wire name (`Encrypt`, …). */
export function createDispatcher(
  deps: KmsDeps,
  operations: ReadonlyMap<string, Operation>,
  logger: Logger,
  options: DispatcherOptions = {},
): Dispatcher {
  const { bindAuthorizer, deadlineMs } = options;

  /** `run`, bounded by the call's deadline (the route's, or else {@link DispatcherOptions.deadlineMs} from now). */
  function withinDeadline(name: string, ctx: RequestContext, run: Promise<JsonObject>): Promise<JsonObject> {
    if (!deadlineMs) return run;
    return withDeadline(
      run,
      ctx.deadline ?? Date.now() + deadlineMs,
      () => deadlineExceeded(deadlineMs),
      () => logger.warn({ operation: name, requestId: ctx.requestId }, 'operation completed after its deadline; the caller was told it timed out'),
    );
  }

  /** Records the call and waits until the sink has made it durable; throws the client's error if it could not. */
  async function audit(
    name: string,
    ctx: RequestContext,
    input: JsonObject,
    output: JsonObject | undefined,
    error?: KmsError,
    call?: CallAuthorization,
    notes?: Record<string, unknown>,
  ): Promise<void> {
    try {
      const authorization = call?.auditData();
      const additionalEventData = notes ? { ...authorization, ...notes } : authorization;
      await deps.audit.record({
        eventTime: deps.clock.now(),
        eventName: name,
        requestId: ctx.requestId,
        principalArn: ctx.principal.arn,
        sourceIp: ctx.sourceIp,
        userAgent: ctx.userAgent,
        resources: touchedResources(input, output, call?.keyArns()),
        requestParameters: auditParameters(name, input),
        errorCode: auditErrorCode(error),
        errorMessage: error?.message,
        ...(additionalEventData ? { additionalEventData } : {}),
        ...(ctx.actor ? { actor: ctx.actor } : {}),
      });
    } catch (auditError) {
      // The operation may have taken effect (a key created, a ciphertext made): say so in the
      // log; the caller gets no result that the audit trail does not hold.
      logger.error(
        { operation: name, requestId: ctx.requestId, outcome: error?.type ?? 'ok', err: String(auditError) },
        'audit record not written; result withheld from the caller',
      );
      throw auditUnavailable('The result was withheld because its audit record could not be written; the operation may have taken effect. Try again later.');
    }
  }

  // A store that can check freshness once per call gets each call's reads in one scope.
  const readScope = (deps.store as Partial<RequestReadScope> | undefined)?.inRequestScope ? (deps.store as unknown as RequestReadScope) : undefined;

  async function dispatch(name: string, ctx: RequestContext, input: JsonObject): Promise<JsonObject> {
    if (deps.audit.accepting && !deps.audit.accepting())
      throw auditUnavailable('The request was refused because the audit trail cannot be written. Try again later.');
    const operation = operations.get(name);
    if (!operation) {
      const error = new KmsError('UnknownOperationException', `The operation ${callerText(name, 64)} is not supported.`);
      await audit(name.slice(0, 64), ctx, {}, undefined, error);
      throw error;
    }
    let call: CallAuthorization | undefined;
    let output: JsonObject;
    let notes: Record<string, unknown> | undefined;
    const note = (fields: Record<string, unknown>) => {
      notes = { ...notes, ...fields };
    };
    try {
      call = bindAuthorizer?.({ operation: name, ctx, input });
      const bound = call;
      const run = async (): Promise<JsonObject> => {
        const callCtx = bound ? { ...ctx, principal: await bound.principal(), note } : { ...ctx, note };
        return operation.run(bound ? { ...deps, authorizer: bound.authorizer } : deps, callCtx, input);
      };
      output = await withinDeadline(name, ctx, run());
    } catch (thrown) {
      const error = toKmsError(thrown, name, ctx, logger);
      await audit(name, ctx, input, undefined, error, call, notes);
      throw error;
    }
    await audit(name, ctx, input, output, undefined, call, notes);
    return output;
  }

  return {
    deadlineMs,
    has: (name) => operations.has(name),
    dispatch: readScope ? (name, ctx, input) => readScope.inRequestScope(() => dispatch(name, ctx, input)) : dispatch,
  };
}
