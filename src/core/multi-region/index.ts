/**
 * The `HsmKms.*` operations deployments call on each other for multi-Region keys, and the operator's
 * RemoveCreatingReplica (registered in src/app.ts).
 */
import type { Operation } from '../operation.js';
import { abandonReplica } from './abandon-replica.js';
import { importReplica } from './import-replica.js';
import { importReplicaVersions } from './import-replica-versions.js';
import { prepareReplica } from './prepare-replica.js';
import { removeCreatingReplica } from './remove-creating-replica.js';
import { syncMultiRegionKey } from './sync-multi-region-key.js';

export const multiRegionOperations: readonly Operation[] = [prepareReplica, importReplica, importReplicaVersions, syncMultiRegionKey, abandonReplica, removeCreatingReplica];
