/** Waiting for a custom key store's background connect or disconnect, as any KMS client must. */
import { DescribeCustomKeyStoresCommand, type CustomKeyStoresListEntry, type KMSClient } from '@aws-sdk/client-kms';

/** Polls DescribeCustomKeyStores until the store leaves CONNECTING / DISCONNECTING. */
export async function settledKeyStore(kms: KMSClient, id: string): Promise<CustomKeyStoresListEntry> {
  for (let i = 0; i < 400; i++) {
    const store = (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores![0]!;
    if (store.ConnectionState !== 'CONNECTING' && store.ConnectionState !== 'DISCONNECTING') return store;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`custom key store ${id} did not settle`);
}
