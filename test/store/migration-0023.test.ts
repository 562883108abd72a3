/**
 * Migration 0023 on a database written by the previous version: transport keys remember the peer
 * principal that asked for each (PrepareReplica counts each peer's against its share); those made
 * before have none, count against the region's total only, and are still taken as before.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { previousVersionDatabase } from './previous-version.js';

const now = new Date(1_790_000_000_000);
const earlier = {
  transportKeyId: 'tk-before-0023',
  keyId: `mrk-${'a'.repeat(32)}`,
  wrappedPrivateKey: new Uint8Array(randomBytes(64)),
  publicKey: new Uint8Array(randomBytes(32)),
  createdAt: now,
  expiresAt: new Date(now.getTime() + 600_000),
};
const peer = 'arn:aws:iam::111122223333:user/replicator-eu-west-1';

it('keeps the transport keys made before it, with no requester, and records the requester of new ones', async () => {
  const path = await previousVersionDatabase('0023', async ({ db }) => {
    await db
      .insertInto('transport_keys')
      .values({
        transport_key_id: earlier.transportKeyId,
        key_id: earlier.keyId,
        wrapped_private_key: Buffer.from(earlier.wrappedPrivateKey),
        public_key: Buffer.from(earlier.publicKey),
        created_at: earlier.createdAt.getTime(),
        expires_at: earlier.expiresAt.getTime(),
      })
      .execute();
  });

  const store = await openSqliteStore({ path });
  try {
    const repo = store.multiRegion;
    expect(await repo.countTransportKeys(now)).toBe(1);
    expect(await repo.countTransportKeys(now, peer)).toBe(0);
    await repo.insertTransportKey({ ...earlier, transportKeyId: 'tk-after-0023', requesterArn: peer });
    expect(await repo.countTransportKeys(now)).toBe(2);
    expect(await repo.countTransportKeys(now, peer)).toBe(1);
    expect(await repo.takeTransportKey(earlier.transportKeyId)).toStrictEqual(earlier);
    expect(await repo.takeTransportKey('tk-after-0023')).toStrictEqual({ ...earlier, transportKeyId: 'tk-after-0023', requesterArn: peer });
  } finally {
    await store.close();
  }
});
