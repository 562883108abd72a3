/**
 * Offline commands on the data directory (`principal …`, `policy explain`, `key put-policy`):
 * the same operation the server runs, in process, with the account root's authority — whoever
 * can open the data directory and the HSM already holds every key to the service, so no policy
 * and no quorum is checked (this is the bootstrap and break-glass path). Each call goes into the
 * same audit trail as the server's calls, on a chain of its own (`<host>-cli0` …), naming the
 * operator: `userIdentity.type` `Operator`, `userName` the operating-system user and host,
 * `invokedBy` `hsmkms-cli`. A call whose record cannot be written fails, as an API call does.
 *
 * It works beside a running server (the store is shared; the change takes effect on the
 * server's next request), as the other offline commands do.
 */
import { hostname, userInfo } from 'node:os';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { openServices, quietLogger } from '../app.js';
import { auditSignerOf, defaultAuditNodeId, openChainedAuditSink, type ChainedAuditSink } from '../audit/index.js';
import { rootArn } from '../core/admin/principals.js';
import { operatorAuthorizer } from '../core/authorization/authorizer.js';
import { createDispatcher } from '../core/dispatch.js';
import { KmsError } from '../core/errors.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from '../core/operation.js';
import type { AuditActor } from '../core/ports.js';
import { operationKey } from '../core/registry.js';
import { ConfigError } from '../config/hsm.js';
import { auditDirOf, type AuditDirCliOptions } from './audit-options.js';
import { resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { progress, settingsFrom, type ServiceCliOptions } from './service-options.js';
import { storeConfigFrom, type StoreCliOptions } from './store-options.js';
import { VERSION } from '../version.js';

export interface OfflineCliOptions extends HsmCliOptions, ServiceCliOptions, AuditDirCliOptions, StoreCliOptions {}

/** Offline commands running at once, each on a chain of its own, before one is refused. */
const CLI_AUDIT_NODES = 8;

/** The operator, as the audit trail names them: `user@host` (the uid when the user has no name). */
export function operatorActor(): AuditActor {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid-${process.getuid?.() ?? 'unknown'}`;
  }
  return { type: 'Operator', invokedBy: 'hsmkms-cli', userName: `${user}@${hostname()}` };
}

/** Runs `operation` offline on the data directory, audited (see the module comment); returns its JSON output. */
export async function runOffline(options: OfflineCliOptions, operation: Operation, input: JsonObject): Promise<JsonObject> {
  const settings = settingsFrom(options);
  const hsm = await resolveHsmConfig(options, progress);
  const logger = quietLogger();
  const services = await openServices(resolve(options.dataDir), hsm, logger, storeConfigFrom(options));
  let audit: ChainedAuditSink | undefined;
  try {
    const dir = auditDirOf(options);
    try {
      audit = await openChainedAuditSink({
        dir,
        nodeId: Array.from({ length: CLI_AUDIT_NODES }, (_, i) => defaultAuditNodeId(`cli${i}`)),
        signer: auditSignerOf(services.backend),
        failure: 'closed',
        logger,
      });
    } catch (error) {
      throw new ConfigError(`The audit trail in ${dir} cannot be opened, so nothing was done: ${error instanceof Error ? error.message : String(error)}`);
    }
    const deps: KmsDeps = {
      store: services.store,
      backend: services.backend,
      clock: { now: () => new Date() },
      audit,
      authorizer: operatorAuthorizer,
      settings,
    };
    const name = operationKey(operation);
    const dispatcher = createDispatcher(deps, new Map([[name, operation]]), logger);
    const now = new Date();
    const ctx: RequestContext = {
      requestId: randomUUID(),
      principal: { arn: rootArn(settings), name: 'root', accountId: settings.accountId, roles: ['CryptoOfficer', 'CryptoUser', 'Auditor'], createdAt: now },
      userAgent: `hsmkms-cli/${VERSION} (offline)`,
      actor: operatorActor(),
    };
    return await dispatcher.dispatch(name, ctx, input);
  } catch (error) {
    // Without the stack: the message is for the operator.
    if (error instanceof KmsError) throw new KmsError(error.type, error.message);
    throw error;
  } finally {
    await audit?.close();
    await services.close();
  }
}
