/**
 * ECC_NIST_EDWARDS25519 keys are the one key spec whose material is a persistent object of its
 * own in the HSM (README, "Key specs"), so a caller allowed CreateKey could fill the token's object
 * storage, shared with everything else it holds. The service holds at most `--max-ed25519-keys`
 * of them (here 3): CreateKey beyond that is LimitExceededException, also when several race for
 * the last places (checked under a lock where the key is inserted); keys pending deletion count,
 * their objects remain; other key specs are not limited by it.
 */
import { CreateKeyCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KMSClient } from '@aws-sdk/client-kms';
import { startServer, type RunningServer } from '../support/server.js';
import { sdkFailure } from '../support/errors.js';

let server: RunningServer;
let kms: KMSClient;
beforeAll(async () => {
  server = await startServer({ maxEd25519Keys: 3 });
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  kms?.destroy();
  await server?.close();
});

const createEd25519 = () => kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }));

describe('--max-ed25519-keys', () => {
  it('six CreateKey calls racing for three places: three keys, three LimitExceededException naming the limit', async () => {
    const results = await Promise.allSettled(Array.from({ length: 6 }, createEd25519));
    const made = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as { name: string; message: string; $metadata?: { httpStatusCode?: number } });
    expect(made).toHaveLength(3);
    expect(refused).toHaveLength(3);
    for (const error of refused) {
      expect(error.name).toBe('LimitExceededException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(error.message).toMatch(/already holds 3 ECC_NIST_EDWARDS25519 keys, the most it allows \(3\).*--max-ed25519-keys/);
    }

    // A key pending deletion still has its object in the HSM: it counts until it is deleted.
    const [first] = made as PromiseFulfilledResult<Awaited<ReturnType<typeof createEd25519>>>[];
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: first!.value.KeyMetadata!.KeyId, PendingWindowInDays: 7 }));
    expect((await sdkFailure(createEd25519())).name).toBe('LimitExceededException');

    // Other key specs are wrapped blobs in the store, not token objects: not limited by it.
    const p256 = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
    expect(p256.KeyMetadata?.KeySpec).toBe('ECC_NIST_P256');
  });
});
