/**
 * The one operation registry behind the one dispatcher, over every `X-Amz-Target` namespace.
 *
 * Registry keys are what the dispatcher, the audit trail (`eventName`) and the metrics call an
 * operation: the bare name for AWS KMS's own operations (`Encrypt`, as CloudTrail names them),
 * `<namespace>.<name>` for the others (`HsmKms.CreatePrincipal`), so names never collide.
 *
 * To add an `HsmKms.*` operation: one file exporting an {@link Operation} with
 * `namespace: 'HsmKms'`, listed in its module's registry (e.g. `adminOperations`), which
 * `src/app.ts` passes to {@link operationRegistry}. It authorizes like any operation, with
 * `deps.authorizer.authorize({ principal, action: 'hsmkms:<Name>', key?, context })`, and needs a
 * row in the role table (`src/core/authorization/role-table.ts`).
 */
import { OPERATION_NAMESPACES, type Operation, type OperationNamespace } from './operation.js';

/** The registry key of an operation (see the module comment). */
export function operationKey(operation: Pick<Operation, 'name' | 'namespace'>): string {
  const namespace = operation.namespace ?? 'TrentService';
  return namespace === 'TrentService' ? operation.name : `${namespace}.${operation.name}`;
}

/**
 * The registry key for an `X-Amz-Target` header value, or undefined when the namespace is not
 * one this service serves. The operation itself may still be unknown (the dispatcher says so).
 */
export function operationKeyForTarget(target: string): string | undefined {
  const dot = target.indexOf('.');
  if (dot <= 0) return undefined;
  const namespace = target.slice(0, dot);
  if (!(OPERATION_NAMESPACES as readonly string[]).includes(namespace)) return undefined;
  const name = target.slice(dot + 1);
  if (name === '') return undefined;
  return operationKey({ name, namespace: namespace as OperationNamespace });
}

/** One registry from several groups of operations; a name registered twice is a bug, so it throws. */
export function operationRegistry(...groups: Iterable<Operation>[]): ReadonlyMap<string, Operation> {
  const registry = new Map<string, Operation>();
  for (const group of groups)
    for (const operation of group) {
      const key = operationKey(operation);
      if (registry.has(key)) throw new Error(`operation ${key} is registered twice`);
      registry.set(key, operation);
    }
  return registry;
}
