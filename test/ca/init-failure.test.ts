/**
 * A `ca init` that fails part way (here: the KMS refuses the intermediate's signature) records
 * no CA, and schedules the keys it had made — tagged `hsmkms:ca=NAME`, referred to by nothing —
 * for deletion in 7 days, saying so in its error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeKeyCommand, KMSClient, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { CaError, createCaDeps, initCa, type CaKms } from '../../src/ca/index.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
let kms: KMSClient;

beforeAll(async () => {
  server = await startServer();
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
}, 120_000);
afterAll(async () => {
  kms?.destroy();
  await server?.close();
});

/** The server's own in-process CA KMS, refusing the signatures `refuse` picks. */
function failing(refuse: (purpose: string) => boolean): CaKms {
  const real = server.app.ca.kms;
  return {
    ...real,
    signDigest: (keyId, algorithm, digest, purpose) =>
      refuse(purpose) ? Promise.reject(new CaError('RequestFailedException', `KMS Sign failed: refused by the test (${purpose}).`)) : real.signDigest(keyId, algorithm, digest, purpose),
  };
}

async function keysTagged(name: string): Promise<Array<{ keyId: string; role: string }>> {
  const out: Array<{ keyId: string; role: string }> = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListKeysCommand({ Limit: 100, Marker: marker }));
    for (const key of page.Keys ?? []) {
      const tags = (await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId! }))).Tags ?? [];
      if (tags.some((t) => t.TagKey === 'hsmkms:ca' && t.TagValue === name))
        out.push({ keyId: key.KeyId!, role: tags.find((t) => t.TagKey === 'hsmkms:ca-role')!.TagValue! });
    }
    marker = page.NextMarker;
  } while (marker);
  return out;
}

describe('a failed ca init', () => {
  it('records nothing and schedules the keys it made for deletion in 7 days', async () => {
    const deps = createCaDeps(failing((purpose) => purpose === 'intermediate-certificate'), server.app.ca.store);
    const error = await initCa(deps, { name: 'half', subject: 'CN=Half Root', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaError);
    expect((error as CaError).type).toBe('RequestFailedException');
    expect((error as CaError).message).toMatch(/refused by the test \(intermediate-certificate\)\. The 3 KMS keys it had created are scheduled for deletion in 7 days\.$/);
    expect(await server.app.ca.store.getAuthority('half')).toBeUndefined();

    const keys = await keysTagged('half');
    expect(keys.map((k) => k.role).sort()).toEqual(['intermediate', 'ocsp', 'root']);
    for (const { keyId } of keys) {
      const metadata = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      expect(metadata.KeyState).toBe('PendingDeletion');
      const days = (metadata.DeletionDate!.getTime() - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(6.9);
      expect(days).toBeLessThanOrEqual(7);
    }

    // The name is free: a later init under it succeeds with keys of its own.
    const created = await initCa(server.app.ca, { name: 'half', subject: 'CN=Half Root', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
    expect(keys.map((k) => k.keyId)).not.toContain(created.authority.rootKeyId.split('/').at(-1));
  });

  it('leaves nothing to clean up when it fails before making a key', async () => {
    const error = await initCa(server.app.ca, { name: 'half', subject: 'CN=Again', baseUrl: server.endpoint }).catch((e: unknown) => e);
    expect(error).toMatchObject({ type: 'ResourceAlreadyExistsException', message: "A CA named 'half' exists already." });
  });

  it('when two inits race for one name, the one the store refuses gives its keys up', async () => {
    const init = () => initCa(server.app.ca, { name: 'race', subject: 'CN=Race Root', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
    // Both pass the up-front name check; the store's unique name decides.
    const outcomes = await Promise.allSettled([init(), init()]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(CaError);
    expect(lost[0]!.reason).toMatchObject({ type: 'ResourceAlreadyExistsException' });
    expect((lost[0]!.reason as Error).message).toMatch(/^A CA named 'race' exists already\. The 3 KMS keys it had created are scheduled for deletion in 7 days\.$/);

    const recorded = (await server.app.ca.store.getAuthority('race'))!;
    const kept = [recorded.rootKeyId, recorded.intermediateKeyId, recorded.ocspKeyId].map((arn) => arn.split('/').at(-1)!);
    const keys = await keysTagged('race');
    expect(keys).toHaveLength(6);
    for (const { keyId } of keys) {
      const state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
      expect({ keyId, state }).toEqual({ keyId, state: kept.includes(keyId) ? 'Enabled' : 'PendingDeletion' });
    }
  });
});
