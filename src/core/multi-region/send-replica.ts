/**
 * The transfer behind ReplicateKey (run as a `replicate` replication job): the replica region's
 * HSM makes a transport key (HsmKms.PrepareReplica), this HSM wraps every version of the material
 * to it inside the token, and the peer unwraps them into its own HSM and creates the replica
 * (HsmKms.ImportReplica). A key with imported material (Origin EXTERNAL) sends no material: its
 * replica is created PendingImport, expecting the same material (checked against the KeyMaterialId).
 * A key with material sends the replica's settings with PrepareReplica already, so the region
 * shows the replica `Creating` while the material travels (an older peer ignores them).
 */
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { MultiRegionKeyRecord } from './model.js';
import { callPeer } from './peer-calls.js';
import { travellingVersions, wrapVersionsFor } from './versions.js';

/** What ReplicateKey says about the replica itself (the job's payload). */
export interface ReplicaOptions {
  Policy?: string;
  Description?: string;
  BypassPolicyLockoutSafetyCheck?: boolean;
  Tags?: ReadonlyArray<{ TagKey: string; TagValue: string }>;
}

/** Creates the replica of `key` in `region`; answers ImportReplica's output. */
export async function sendReplica(deps: KmsDeps, region: string, key: KeyRecord, record: MultiRegionKeyRecord, options: ReplicaOptions): Promise<JsonObject> {
  // What the replica is made of besides its material: sent with PrepareReplica too, so that the
  // region records the replica (`Creating`) before the material travels.
  const settings: JsonObject = {
    KeyUsage: key.keyUsage,
    PrimaryRegion: deps.settings.region,
    Regions: record.regions.filter((r) => r.state === 'Active').map((r) => r.region),
    CreationDate: Math.floor(key.creationDate.getTime() / 1000),
    ...(key.rotationEnabled && key.rotationPeriodInDays !== undefined ? { RotationPeriodInDays: key.rotationPeriodInDays } : {}),
    ...(options.Description !== undefined ? { Description: options.Description } : {}),
    ...(options.Policy !== undefined ? { Policy: options.Policy } : {}),
    ...(options.BypassPolicyLockoutSafetyCheck !== undefined ? { BypassPolicyLockoutSafetyCheck: options.BypassPolicyLockoutSafetyCheck } : {}),
    Tags: (options.Tags ?? []).map((t) => ({ TagKey: t.TagKey, TagValue: t.TagValue })),
  };
  const material =
    key.origin === 'EXTERNAL'
      ? { Origin: 'EXTERNAL' }
      : await (async () => {
          const wrapped = await wrapVersionsFor(deps, region, key, await travellingVersions(deps, key), false, settings);
          return { TransportKeyId: wrapped.transportKeyId, TransportHash: wrapped.hash, Versions: wrapped.versions };
        })();
  return callPeer(deps, region, 'ImportReplica', { ...material, ...settings, KeyId: key.keyId, KeySpec: key.keySpec, CurrentKeyMaterialId: key.currentVersionId });
}
