/** DescribeKey's `MultiRegionConfiguration` for a multi-Region key, from this deployment's record. */
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps, KmsSettings } from '../operation.js';
import { regionalKeyArn } from '../key-resolver.js';
import { isMultiRegionKeyId, type MultiRegionKeyRecord } from './model.js';

/** AWS's MultiRegionConfiguration: the key's type here, its primary, and the replicas (active ones). */
export function multiRegionConfiguration(settings: KmsSettings, record: MultiRegionKeyRecord): JsonObject {
  const at = (region: string) => ({ Arn: regionalKeyArn(settings, region, record.keyId), Region: region });
  return {
    MultiRegionKeyType: record.primaryRegion === settings.region ? 'PRIMARY' : 'REPLICA',
    PrimaryKey: at(record.primaryRegion),
    ReplicaKeys: record.regions.filter((r) => r.region !== record.primaryRegion).map((r) => at(r.region)),
  };
}

/** The configuration of `key` if it is a multi-Region key (one store read), else undefined. */
export async function multiRegionMetadataOf(deps: Pick<KmsDeps, 'store' | 'settings'>, key: KeyRecord): Promise<JsonObject | undefined> {
  if (!isMultiRegionKeyId(key.keyId)) return undefined;
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  return record && multiRegionConfiguration(deps.settings, record);
}
