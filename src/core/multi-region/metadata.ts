/** DescribeKey's `MultiRegionConfiguration` for a multi-Region key, from this deployment's record. */
import { KmsError } from '../errors.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps, KmsSettings } from '../operation.js';
import { regionalKeyArn } from '../key-resolver.js';
import { isMultiRegionKeyId, type MultiRegionKeyRecord } from './model.js';

/** AWS's MultiRegionConfiguration: the key's type here, its primary, and the replicas (those still `Creating` too, as AWS lists them). */
export function multiRegionConfiguration(settings: KmsSettings, record: MultiRegionKeyRecord): JsonObject {
  const at = (region: string) => ({ Arn: regionalKeyArn(settings, region, record.keyId), Region: region });
  return {
    MultiRegionKeyType: record.primaryRegion === settings.region ? 'PRIMARY' : 'REPLICA',
    PrimaryKey: at(record.primaryRegion),
    ReplicaKeys: record.regions.filter((r) => r.region !== record.primaryRegion).map((r) => at(r.region)),
  };
}

/**
 * What a multi-Region key adds to its metadata (one store read; nothing for other keys): its
 * configuration, and whether a change is in flight — an UpdatePrimaryRegion, or a rotation on its
 * way to the replicas (AWS's transient KeyState `Updating`, shown instead of Enabled; the key stays
 * usable meanwhile).
 */
export async function multiRegionMetadataOf(
  deps: Pick<KmsDeps, 'store' | 'settings'>,
  key: KeyRecord,
): Promise<{ configuration?: JsonObject; updating?: boolean }> {
  if (!isMultiRegionKeyId(key.keyId)) return {};
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  return record ? { configuration: multiRegionConfiguration(deps.settings, record), updating: record.updating } : {};
}

/** For EnableKey and DisableKey: refused, as in AWS, while a multi-Region key is `Updating` (one store read for `mrk-` keys only). */
export async function requireNotUpdating(deps: Pick<KmsDeps, 'store'>, key: KeyRecord): Promise<void> {
  if (!isMultiRegionKeyId(key.keyId)) return;
  if ((await deps.store.multiRegion.getMultiRegionKey(key.keyId))?.updating)
    throw new KmsError('KMSInvalidStateException', `${key.arn} is Updating (a primary Region change or a rotation is in flight); try again once it is done.`);
}
