/** DescribeKey: a key's metadata, in any key state. */
import { resolveKey } from '../key-resolver.js';
import { keyMetadata } from '../key-metadata.js';
import { keyStoreMetadata } from '../key-stores/keys.js';
import { multiRegionMetadataOf } from '../multi-region/metadata.js';
import type { Operation } from '../operation.js';
import { GRANT_TOKENS_RULE, optionalStringList, requiredKeyId } from '../validation.js';

export const describeKey: Operation = {
  name: 'DescribeKey',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    optionalStringList(input, 'GrantTokens', GRANT_TOKENS_RULE);
    const key = await resolveKey(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DescribeKey', key, context: {} });
    const multiRegion = await multiRegionMetadataOf(deps, key);
    const metadata = keyMetadata(key, await keyStoreMetadata(deps, key), multiRegion.configuration);
    if (multiRegion.updating && key.keyState === 'Enabled') metadata.KeyState = 'Updating';
    return { KeyMetadata: metadata };
  },
};
