/**
 * A replica in KeyState `Creating` as its own region shows it: two deployments (two stores, each
 * with its own region, on the run's token), the replica region's HsmKms operations called in
 * process as its peer endpoint would call them. The transfer is held by refusing ImportReplica as
 * an unreachable region would, so the replica region is seen between PrepareReplica and ImportReplica.
 */
import { constants, createPublicKey, ECDH, generateKeyPairSync, publicEncrypt, randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDispatcher } from '../../../src/core/dispatch.js';
import { KmsError } from '../../../src/core/errors.js';
import type { JsonObject } from '../../../src/core/operation.js';
import { abandonReplica } from '../../../src/core/multi-region/abandon-replica.js';
import { multiRegionOperations } from '../../../src/core/multi-region/index.js';
import { importReplica } from '../../../src/core/multi-region/import-replica.js';
import { getParametersForImport } from '../../../src/core/operations/get-parameters-for-import.js';
import { getPublicKey } from '../../../src/core/operations/get-public-key.js';
import { importKeyMaterial } from '../../../src/core/operations/import-key-material.js';
import { PeerError } from '../../../src/core/multi-region/ports.js';
import { TRANSPORT_KEY_VALIDITY_MS } from '../../../src/core/multi-region/prepare-replica.js';
import { replicaTransportOf } from '../../../src/core/multi-region/transport.js';
import { removeCreatingReplica } from '../../../src/core/multi-region/remove-creating-replica.js';
import { retryDelayMs, runReplicationJobs } from '../../../src/core/multi-region/replication-jobs.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { listKeys } from '../../../src/core/operations/list-keys.js';
import { listResourceTags } from '../../../src/core/operations/list-resource-tags.js';
import { replicateKey } from '../../../src/core/operations/replicate-key.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { tagResource } from '../../../src/core/operations/tag-resource.js';
import type { Logger } from '../../../src/core/ports.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError } from '../operations/management-support.js';

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };
const EU = 'eu-west-1';

let east: TestKms;
let west: TestKms;
/** Operations of eu-west-1 that answer as an unreachable region would (the transfer is held there). */
let held: Set<string>;
/** eu-west-1 runs the version before placeholders: it ignores PrepareReplica's Replica and does not know AbandonReplica. */
let oldPeer: boolean;
/** Operations of eu-west-1 that run there but whose answer is lost on the way back (once each). */
let lost: Set<string>;
/** eu-west-1 runs the version before multi-Region KEY_AGREEMENT keys: PrepareReplica lists no KeyUsages. */
let noKeyUsages: boolean;
let calls: string[];
/** What eu-west-1 was sent while held, in order. */
let heldInputs: Array<{ operation: string; input: JsonObject }>;
/** Changes what eu-west-1 receives (a peer that sends what it should not). */
let tamper: ((operation: string, input: JsonObject) => JsonObject) | undefined;

beforeEach(async () => {
  [east, west] = await Promise.all([createTestKms(), createTestKms()]);
  west.deps.settings = { ...TEST_SETTINGS, region: EU };
  held = new Set();
  oldPeer = false;
  noKeyUsages = false;
  lost = new Set();
  calls = [];
  heldInputs = [];
  tamper = undefined;
  east.deps.regionPeers = {
    has: async (region) => region === EU,
    async call(region, operation, input) {
      calls.push(operation);
      if (held.has(operation)) heldInputs.push({ operation, input });
      if (held.has(operation)) throw new PeerError('PeerUnreachable', 'connection refused', 0);
      const op = multiRegionOperations.find((o) => o.name === operation);
      if (!op || (oldPeer && operation === 'AbandonReplica')) throw new PeerError('UnknownOperationException', `Unknown operation: HsmKms.${operation}`, 400);
      const { Replica: _ignored, ...older } = input;
      try {
        const sent = tamper ? tamper(operation, input) : input;
        const answer = oldPeer && operation === 'PrepareReplica' && input.Existing !== true ? await olderPrepareReplica(input) : await op.run(west.deps, west.ctx, oldPeer ? older : sent);
        if (lost.delete(operation)) throw new PeerError('PeerUnreachable', 'connection reset', 0);
        if (!(oldPeer || noKeyUsages)) return answer;
        const { KeyUsages: _notYet, ...earlier } = answer;
        return earlier;
      } catch (error) {
        if (error instanceof KmsError) throw new PeerError(error.type, error.message, 400);
        throw error;
      }
    },
  };
});
afterEach(async () => {
  await Promise.all([east.close(), west.close()]);
});

/**
 * PrepareReplica for a new replica as the version before placeholders answered it (this version
 * refuses one without the replica's settings): a transport key for the key id, nothing recorded.
 */
async function olderPrepareReplica(input: JsonObject): Promise<JsonObject> {
  const pair = await west.deps.backend.createWrappingKeyPair('RSA_3072');
  const now = west.clock.now();
  const transportKeyId = randomUUID();
  await west.store.multiRegion.insertTransportKey({
    transportKeyId,
    keyId: String(input.KeyId),
    wrappedPrivateKey: pair.wrapped,
    publicKey: pair.publicKey,
    createdAt: now,
    expiresAt: new Date(now.getTime() + TRANSPORT_KEY_VALIDITY_MS),
  });
  return { TransportKeyId: transportKeyId, PublicKey: Buffer.from(pair.publicKey).toString('base64'), TransportHashes: replicaTransportOf(west.deps.backend)!.transportHashes() };
}

const metadataIn = async (kms: TestKms, keyId: string) => (await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as Record<string, any>;

/** A primary in us-east-1 and its replica asked for in eu-west-1 while the material cannot arrive. */
async function replicaHeld(): Promise<string> {
  const keyId = ((await call(east, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
  held.add('ImportReplica');
  const replicated = await call(east, replicateKey, { KeyId: keyId, ReplicaRegion: EU, Description: 'the replica', Tags: [{ TagKey: 'team', TagValue: 'payments' }] });
  expect(replicated.ReplicaKeyMetadata).toMatchObject({ KeyState: 'Creating' });
  // The call waits 2 s at most; under load the first attempt may still be running: wait until it failed.
  await expect.poll(async () => (await east.store.multiRegion.listReplicationJobs({ limit: 10 }))[0]?.attempts, { timeout: 30_000, interval: 50 }).toBe(1);
  expect(calls).toStrictEqual(['PrepareReplica', 'ImportReplica']);
  return keyId;
}

describe("a replica's public key", () => {
  /** The primary's ECC_NIST_P256 signing key replicated with each version's PublicKey changed by `change`; the replica's state once the first attempt ended. */
  async function replicatedWith(change: (spki: Buffer) => Buffer): Promise<{ keyId: string; state: string }> {
    const keyId = ((await call(east, createKey, { MultiRegion: true, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })).KeyMetadata as { KeyId: string }).KeyId;
    tamper = (operation, input) =>
      operation !== 'ImportReplica'
        ? input
        : { ...input, Versions: (input.Versions as JsonObject[]).map((v) => ({ ...v, PublicKey: change(Buffer.from(String(v.PublicKey), 'base64')).toString('base64') })) };
    // A refusal for good within the call's 2 s is its answer; the outcome is read from the stores below.
    await call(east, replicateKey, { KeyId: keyId, ReplicaRegion: EU }).catch(() => undefined);
    await expect
      .poll(async () => calls.includes('ImportReplica') && (await east.store.multiRegion.listReplicationJobs({ limit: 10 })).every((j) => j.attempts > 0 || j.kind === 'abandon'), {
        timeout: 30_000,
        interval: 50,
      })
      .toBe(true);
    const state = await metadataIn(west, keyId).then(
      (m) => String(m.KeyState),
      (e: KmsError) => e.type,
    );
    return { keyId, state };
  }

  it('sent compressed: the replica serves it as the primary does, DER with the point uncompressed', async () => {
    const { keyId, state } = await replicatedWith((spki) => {
      const point = spki.subarray(spki.length - 65);
      const compressed = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
      return Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), compressed]);
    });
    expect(state).toBe('Enabled');
    const [primary, replica] = await Promise.all([call(east, getPublicKey, { KeyId: keyId }), call(west, getPublicKey, { KeyId: keyId })]);
    expect(Buffer.from(String(replica.PublicKey), 'base64').length).toBe(91);
    expect(replica.PublicKey).toBe(primary.PublicKey);
  });

  it("another key's public key: ImportReplica is refused (IncorrectKeyMaterialException) and no material is stored", async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const { keyId, state } = await replicatedWith(() => other);
    expect(state).toBe('Creating');
    expect(await west.store.listKeyVersions(keyId)).toStrictEqual([]);
    // The same material would be refused again: given up, not retried (the placeholder is removed there next).
    expect(await east.store.multiRegion.listReplicationJobs({ limit: 10 })).toMatchObject([{ kind: 'abandon', region: EU }]);
    expect((await east.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    expect(east.audit.filter((e) => e.eventName === 'ReplicateKey' && e.actor?.type === 'AWSService')).toMatchObject([
      { errorCode: 'IncorrectKeyMaterialException', errorMessage: expect.stringMatching(/not the public key of that ECC_NIST_P256 material/) },
    ]);
    await runReplicationJobs(east.deps, SILENT);
    await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
  });
});

describe('a replica being created, in its own region', () => {
  it('is listed and described Creating there, refused for use and management, then completed by ImportReplica', async () => {
    const keyId = await replicaHeld();
    const sealed = await call(east, encrypt, { KeyId: keyId, Plaintext: Buffer.from('made by the primary').toString('base64') });

    const creating = await metadataIn(west, keyId);
    expect(creating).toMatchObject({
      KeyId: keyId,
      Arn: `arn:aws:kms:${EU}:111122223333:key/${keyId}`,
      KeyState: 'Creating',
      Enabled: false,
      Description: 'the replica',
      MultiRegion: true,
      MultiRegionConfiguration: {
        MultiRegionKeyType: 'REPLICA',
        PrimaryKey: { Arn: `arn:aws:kms:us-east-1:111122223333:key/${keyId}`, Region: 'us-east-1' },
        ReplicaKeys: [{ Arn: `arn:aws:kms:${EU}:111122223333:key/${keyId}`, Region: EU }],
      },
    });
    expect(creating.CurrentKeyMaterialId).toBeUndefined();
    expect(((await call(west, listKeys, {})).Keys as Array<{ KeyId: string }>).map((k) => k.KeyId)).toContain(keyId);
    expect((await call(west, listResourceTags, { KeyId: keyId })).Tags).toStrictEqual([{ TagKey: 'team', TagValue: 'payments' }]);
    expect(await west.store.listKeyVersions(keyId)).toStrictEqual([]);
    // Never usable, never changed, never due for the scheduler (no rotation, no deletion).
    await expectKmsError(call(west, encrypt, { KeyId: keyId, Plaintext: Buffer.from('x').toString('base64') }), 'KMSInvalidStateException', 'Creating');
    await expectKmsError(call(west, decrypt, { CiphertextBlob: sealed.CiphertextBlob }), 'KMSInvalidStateException', 'Creating');
    await expectKmsError(call(west, disableKey, { KeyId: keyId }), 'KMSInvalidStateException', 'Creating');
    await expectKmsError(call(west, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 }), 'KMSInvalidStateException', 'Creating');
    await expectKmsError(call(west, tagResource, { KeyId: keyId, Tags: [{ TagKey: 'other', TagValue: 'x' }] }), 'KMSInvalidStateException', 'Creating');
    expect((await west.store.listKeysDue(new Date(Date.UTC(2999, 0)), 100)).map((k) => k.keyId)).not.toContain(keyId);
    // As documented: the region has the key (being created), so ReplicateKey to it is refused.
    await expectKmsError(call(east, replicateKey, { KeyId: keyId, ReplicaRegion: EU }), 'AlreadyExistsException');

    // The material arrives on the scheduler's next attempt: the placeholder is reused, then completed.
    held.clear();
    east.clock.advance(retryDelayMs(1));
    await runReplicationJobs(east.deps, SILENT);
    expect(calls.slice(2)).toStrictEqual(['PrepareReplica', 'ImportReplica']);
    const made = await metadataIn(west, keyId);
    expect(made).toMatchObject({ KeyState: 'Enabled', Enabled: true, Description: 'the replica', CurrentKeyMaterialId: (await metadataIn(east, keyId)).CurrentKeyMaterialId });
    expect((await call(west, listResourceTags, { KeyId: keyId })).Tags).toStrictEqual([{ TagKey: 'team', TagValue: 'payments' }]);
    expect(Buffer.from(String((await call(west, decrypt, { CiphertextBlob: sealed.CiphertextBlob })).Plaintext), 'base64').toString()).toBe('made by the primary');
    expect((await east.store.multiRegion.getMultiRegionKey(keyId))!.regions).toStrictEqual([
      { region: 'us-east-1', state: 'Active' },
      { region: EU, state: 'Active' },
    ]);
    // A replica that exists is never removed by AbandonReplica, and the primary's job is gone.
    expect(await call(west, abandonReplica, { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toStrictEqual({ KeyId: keyId, Removed: false });
    expect((await metadataIn(west, keyId)).KeyState).toBe('Enabled');
    expect(await east.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
  });

  it('a replica given up is removed from its region (HsmKms.AbandonReplica), and that is audited', async () => {
    const keyId = await replicaHeld();
    expect((await metadataIn(west, keyId)).KeyState).toBe('Creating');
    // The primary is scheduled for deletion before the material arrived: the replica is given up for good.
    await call(east, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    held.clear();
    east.clock.advance(retryDelayMs(1));
    await runReplicationJobs(east.deps, SILENT);
    expect((await east.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    await runReplicationJobs(east.deps, SILENT);
    expect(calls).toContain('AbandonReplica');
    await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
    expect(await west.store.multiRegion.getMultiRegionKey(keyId)).toBeUndefined();
    expect(await west.store.getTags(keyId)).toStrictEqual([]);
    expect(east.audit.filter((e) => e.eventName === 'AbandonReplica')).toHaveLength(1);
    expect(await east.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
    // Nothing left to remove: the call answers so, and may be repeated.
    expect(await call(west, abandonReplica, { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toStrictEqual({ KeyId: keyId, Removed: false });
  });

  it('AbandonReplica removes only a placeholder of the primary that asks', async () => {
    const keyId = await replicaHeld();
    expect(await call(west, abandonReplica, { KeyId: keyId, PrimaryRegion: 'ap-south-1' })).toStrictEqual({ KeyId: keyId, Removed: false });
    expect((await metadataIn(west, keyId)).KeyState).toBe('Creating');
    expect(await call(west, abandonReplica, { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toStrictEqual({ KeyId: keyId, Removed: true });
    await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
    // The primary's next attempt makes the replica all the same.
    held.clear();
    east.clock.advance(retryDelayMs(1));
    await runReplicationJobs(east.deps, SILENT);
    expect((await metadataIn(west, keyId)).KeyState).toBe('Enabled');
  });

  it('a peer of the previous version (no placeholder, no AbandonReplica) shows nothing while Creating, and a give-up ends cleanly', async () => {
    oldPeer = true;
    const keyId = await replicaHeld();
    await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
    await call(east, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    held.clear();
    east.clock.advance(retryDelayMs(1));
    await runReplicationJobs(east.deps, SILENT);
    await runReplicationJobs(east.deps, SILENT);
    expect(calls).toContain('AbandonReplica');
    expect(await east.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
  });

  describe('removed by an operator when its primary never comes back (HsmKms.RemoveCreatingReplica)', () => {
    /** The operation as the server runs it: through the dispatcher, which audits every call. */
    const removeIn = (kms: TestKms, keyId: string) =>
      createDispatcher(kms.deps, new Map([['HsmKms.RemoveCreatingReplica', removeCreatingReplica]]), SILENT).dispatch('HsmKms.RemoveCreatingReplica', kms.ctx, { KeyId: keyId });

    it('is refused while its transfer could still complete, then removes it, audited; a late ImportReplica writes nothing', async () => {
      const keyId = await replicaHeld();
      const arn = `arn:aws:kms:${EU}:111122223333:key/${keyId}`;
      // The held attempt's transport key is valid for ten minutes: its ImportReplica may still arrive.
      await expectKmsError(removeIn(west, keyId), 'KMSInvalidStateException', /may still complete until/);
      west.clock.advance(TRANSPORT_KEY_VALIDITY_MS - 1000);
      await expectKmsError(removeIn(west, keyId), 'KMSInvalidStateException', /may still complete until/);
      west.clock.advance(1000);
      expect(await removeIn(west, keyId)).toStrictEqual({ KeyId: arn, PrimaryRegion: 'us-east-1', Removed: true });
      await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
      expect(await west.store.multiRegion.getMultiRegionKey(keyId)).toBeUndefined();
      expect(await west.store.getTags(keyId)).toStrictEqual([]);
      expect(await west.store.multiRegion.transportKeysValidUntil(keyId, new Date(0))).toBeUndefined();
      const events = west.audit.filter((e) => e.eventName === 'HsmKms.RemoveCreatingReplica');
      expect(events.map((e) => [e.errorCode, e.requestParameters, e.resources])).toStrictEqual([
        ['KMSInvalidStateException', { KeyId: keyId }, []],
        ['KMSInvalidStateException', { KeyId: keyId }, []],
        [undefined, { KeyId: keyId }, [arn]],
      ]);

      // The ImportReplica that was on its way arrives late: refused, nothing is stored.
      const late = heldInputs.find((h) => h.operation === 'ImportReplica')!.input;
      await expectKmsError(call(west, importReplica, late), 'ValidationException', /transport key/);
      await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
      expect(await west.store.listKeyVersions(keyId)).toStrictEqual([]);
      await expectKmsError(removeIn(west, keyId), 'NotFoundException');

      // A primary that was alive after all still lists the region: its next attempt makes the replica anew.
      held.clear();
      east.clock.advance(retryDelayMs(1));
      await runReplicationJobs(east.deps, SILENT);
      expect((await metadataIn(west, keyId)).KeyState).toBe('Enabled');
      // Never a key with material, nor a primary.
      await expectKmsError(removeIn(west, keyId), 'KMSInvalidStateException', /is Enabled, not a replica being created/);
      await expectKmsError(removeIn(east, keyId), 'KMSInvalidStateException', /is Enabled, not a replica being created/);
      expect((await metadataIn(west, keyId)).KeyState).toBe('Enabled');
    });

    it('an ImportReplica already unwrapping when the replica is removed writes nothing (the placeholder is checked in its transaction)', async () => {
      const keyId = await replicaHeld();
      west.clock.advance(TRANSPORT_KEY_VALIDITY_MS);
      // The primary's next attempt: a new transport key, taken by ImportReplica, which is held inside the HSM unwrap.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let unwrapping!: () => void;
      const started = new Promise<void>((resolve) => (unwrapping = resolve));
      const backend = west.deps.backend;
      west.deps.backend = new Proxy(backend, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (property === 'unwrapFromReplica')
            return async (...args: unknown[]) => {
              unwrapping();
              await gate;
              return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            };
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      held.clear();
      east.clock.advance(retryDelayMs(1));
      const attempt = runReplicationJobs(east.deps, SILENT);
      await started;
      // Its transport key is taken (single use), so none is waiting: the removal goes ahead.
      expect(await removeIn(west, keyId)).toMatchObject({ Removed: true });
      release();
      await attempt;
      await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
      expect(await west.store.listKeyVersions(keyId)).toStrictEqual([]);
      expect(await west.store.multiRegion.getMultiRegionKey(keyId)).toBeUndefined();
      // The primary keeps its job (the region answered that the replica changed meanwhile).
      expect((await east.store.multiRegion.listReplicationJobs({ limit: 10 })).map((j) => j.kind)).toStrictEqual(['replicate']);
    });
  });

  describe('a KEY_AGREEMENT key and a region of an earlier version', () => {
    for (const [version, set] of [
      ['the previous version (placeholders, no KEY_AGREEMENT)', () => (noKeyUsages = true)],
      ['an older version (no placeholders)', () => (oldPeer = true)],
    ] as const)
      it(`is never sent to ${version}: ReplicateKey is refused, nothing stays there`, async () => {
        set();
        const keyId = ((await call(east, createKey, { MultiRegion: true, KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' })).KeyMetadata as { KeyId: string }).KeyId;
        // The refusal is the call's answer when the attempt ends within the call's 2 s (under load it may
        // not: the call then answers Creating), and in either case the audited reason the replica was given up.
        const answer = await call(east, replicateKey, { KeyId: keyId, ReplicaRegion: EU }).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (answer !== undefined) expect(answer).toMatchObject({ type: 'UnsupportedOperationException', message: expect.stringMatching(/cannot receive KEY_AGREEMENT key material/) });
        await expect
          .poll(() => east.audit.find((e) => e.eventName === 'ReplicateKey' && e.errorCode !== undefined), { timeout: 30_000, interval: 50 })
          .toMatchObject({ errorCode: 'UnsupportedOperationException', errorMessage: expect.stringMatching(/cannot receive KEY_AGREEMENT key material/) });
        expect(calls).toStrictEqual(['PrepareReplica']);
        // The material never left; the region leaves the set and the placeholder (if it made one) is removed there.
        await runReplicationJobs(east.deps, SILENT);
        expect(await west.store.listKeyVersions(keyId)).toStrictEqual([]);
        await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
        expect((await east.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
        expect(await east.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
        // A signing key still goes to it.
        const signing = ((await call(east, createKey, { MultiRegion: true, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })).KeyMetadata as { KeyId: string }).KeyId;
        await call(east, replicateKey, { KeyId: signing, ReplicaRegion: EU });
        await expect.poll(async () => (await west.store.getKey(signing))?.keyState, { timeout: 30_000, interval: 50 }).toBe('Enabled');
      });
  });

  it('an imported key\'s replica whose ImportReplica answer was lost is recognised on the next attempt (its material is awaited, not missing)', async () => {
    const keyId = ((await call(east, createKey, { MultiRegion: true, Origin: 'EXTERNAL' })).KeyMetadata as { KeyId: string }).KeyId;
    const params = await call(east, getParametersForImport, { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    const wrappingKey = createPublicKey({ key: Buffer.from(String(params.PublicKey), 'base64'), format: 'der', type: 'spki' });
    const EncryptedKeyMaterial = publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32)).toString('base64');
    await call(east, importKeyMaterial, { KeyId: keyId, ImportToken: params.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    lost.add('ImportReplica');
    await call(east, replicateKey, { KeyId: keyId, ReplicaRegion: EU });
    await expect.poll(async () => (await east.store.multiRegion.listReplicationJobs({ limit: 10 }))[0]?.attempts, { timeout: 30_000, interval: 50 }).toBe(1);
    expect((await metadataIn(west, keyId)).KeyState).toBe('PendingImport');
    east.clock.advance(retryDelayMs(1));
    await runReplicationJobs(east.deps, SILENT);
    expect(calls).toStrictEqual(['ImportReplica', 'ImportReplica', 'SyncMultiRegionKey']);
    expect((await east.store.multiRegion.getMultiRegionKey(keyId))!.regions).toStrictEqual([
      { region: 'us-east-1', state: 'Active' },
      { region: EU, state: 'Active' },
    ]);
    expect(await east.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
    // The replica waits, PendingImport, for the primary's material (the KeyMaterialId it accepts).
    expect((await metadataIn(west, keyId)).KeyState).toBe('PendingImport');
    expect((await west.store.getKey(keyId))!.currentVersionId).toBe((await east.store.getKey(keyId))!.currentVersionId);
  });
});

describe('a replica being created belongs to the principal that recorded it', () => {
  /**
   * Another RegionPeer of eu-west-1 (a third region's peer principal): it may call the replica
   * operations for replicas of its own. (A CryptoUser may not call them at all: the role gate,
   * test/core/authorization and test/api/multi-region.test.ts.)
   */
  const intruder = () => ({
    requestId: 'intruder-request',
    principal: { ...west.ctx.principal, arn: `arn:aws:iam::111122223333:user/intruder`, name: 'intruder', roles: ['RegionPeer' as const] },
  });
  const replica = { KeyUsage: 'ENCRYPT_DECRYPT', PrimaryRegion: 'us-east-1', Regions: ['us-east-1'] };

  it('another principal can neither take over nor remove it; the primary still completes it', async () => {
    const keyId = await replicaHeld();
    const sealed = await call(east, encrypt, { KeyId: keyId, Plaintext: Buffer.from('made by the primary').toString('base64') });
    const op = (name: string) => multiRegionOperations.find((o) => o.name === name)!;

    // Reusing the placeholder would hand the intruder a transport key for it, and ImportReplica
    // then gave the replica (with the primary's policy) material of the intruder's choosing.
    await expectKmsError(op('PrepareReplica').run(west.deps, intruder(), { KeyId: keyId, KeySpec: 'SYMMETRIC_DEFAULT', Replica: replica }), 'AlreadyExistsException');
    // Nor a transport key for "new versions" of it: a replica still Creating receives none.
    const transports = () => west.store.multiRegion.countTransportKeys(west.clock.now());
    const before = await transports();
    await expectKmsError(op('PrepareReplica').run(west.deps, intruder(), { KeyId: keyId, KeySpec: 'SYMMETRIC_DEFAULT', Existing: true }), 'KMSInvalidStateException', 'Creating');
    expect(await transports()).toBe(before);
    // Its material wrapped to a transport key of its own: ImportReplica refuses it before any is looked up.
    const transport = { TransportKeyId: 'intruders-own', PublicKey: generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
    const chosen = Buffer.alloc(32, 7);
    const wrapped = publicEncrypt(
      { key: createPublicKey({ key: Buffer.from(String(transport.PublicKey), 'base64'), format: 'der', type: 'spki' }), oaepHash: 'sha256', padding: constants.RSA_PKCS1_OAEP_PADDING },
      chosen,
    );
    const versionId = 'ab'.repeat(32);
    await expectKmsError(
      op('ImportReplica').run(west.deps, intruder(), {
        KeyId: keyId,
        KeySpec: 'SYMMETRIC_DEFAULT',
        TransportKeyId: transport.TransportKeyId,
        TransportHash: 'SHA_256',
        Versions: [{ KeyMaterialId: versionId, CreatedAt: 1, WrappedMaterial: wrapped.toString('base64') }],
        CurrentKeyMaterialId: versionId,
        ...replica,
      }),
      'AlreadyExistsException',
    );
    expect(await abandonReplica.run(west.deps, intruder(), { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toStrictEqual({ KeyId: keyId, Removed: false });
    expect((await metadataIn(west, keyId)).KeyState).toBe('Creating');

    // The primary's next attempt completes it with the primary's material.
    held.clear();
    east.clock.advance(retryDelayMs(1));
    await runReplicationJobs(east.deps, SILENT);
    expect((await metadataIn(west, keyId)).KeyState).toBe('Enabled');
    expect(Buffer.from(String((await call(west, decrypt, { CiphertextBlob: sealed.CiphertextBlob })).Plaintext), 'base64').toString()).toBe('made by the primary');
  });

  it('PrepareReplica for a new replica without its settings (a primary of an earlier version) gives no peer a transport key', async () => {
    const prepare = multiRegionOperations.find((o) => o.name === 'PrepareReplica')!;
    const transports = () => west.store.multiRegion.countTransportKeys(west.clock.now());
    const before = await transports();
    for (const ctx of [west.ctx, intruder()])
      await expectKmsError(
        prepare.run(west.deps, ctx, { KeyId: `mrk-${'b'.repeat(32)}`, KeySpec: 'SYMMETRIC_DEFAULT' }),
        'UnsupportedOperationException',
        /must carry the replica's settings \(Replica\).*upgrade the deployment of the primary's region, then ReplicateKey again/,
      );
    expect(await transports()).toBe(before);
    await expectKmsError(call(west, describeKey, { KeyId: `mrk-${'b'.repeat(32)}` }), 'NotFoundException');
    // Nor for new versions of a key that is no replica here.
    const primaryHere = ((await call(west, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    await expectKmsError(prepare.run(west.deps, west.ctx, { KeyId: primaryHere, KeySpec: 'SYMMETRIC_DEFAULT', Existing: true }), 'UnsupportedOperationException', 'not a replica key here');
    expect(await transports()).toBe(before);
  });

  it('a replica of KEY_AGREEMENT usage is recorded as one (its material will come as derive-only material)', async () => {
    const keyId = `mrk-${'c'.repeat(32)}`;
    const op = multiRegionOperations.find((o) => o.name === 'PrepareReplica')!;
    await op.run(west.deps, west.ctx, { KeyId: keyId, KeySpec: 'ECC_NIST_P256', Replica: { ...replica, KeyUsage: 'KEY_AGREEMENT' } });
    expect(await metadataIn(west, keyId)).toMatchObject({ KeyState: 'Creating', KeyUsage: 'KEY_AGREEMENT' });
  });

  it('a public key sent with an asymmetric replica must be one of its spec (one at infinity aborted the process when served)', async () => {
    const keyId = `mrk-${'d'.repeat(32)}`;
    const op = multiRegionOperations.find((o) => o.name === 'ImportReplica')!;
    const versionId = 'ef'.repeat(32);
    const infinity = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex').toString('base64');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    for (const [KeySpec, PublicKey] of [['ECC_NIST_P256', infinity], ['ECC_NIST_P256', rsa], ['RSA_3072', rsa]] as const)
      await expectKmsError(
        op.run(west.deps, west.ctx, {
          KeyId: keyId,
          KeySpec,
          TransportKeyId: 'unknown',
          TransportHash: 'SHA_256',
          Versions: [{ KeyMaterialId: versionId, CreatedAt: 1, WrappedMaterial: Buffer.alloc(64, 1).toString('base64'), PublicKey }],
          CurrentKeyMaterialId: versionId,
          ...replica,
          KeyUsage: 'SIGN_VERIFY',
        }),
        'ValidationException',
        /Versions\.1\.PublicKey/,
      );
  });

  it('only the principal that recorded a placeholder abandons it: not another, not the account root (the operator removes it with RemoveCreatingReplica, under its transport-key rule)', async () => {
    const keyId = `mrk-${'e'.repeat(32)}`;
    const peer = { requestId: 'peer-request', principal: { ...intruder().principal, arn: 'arn:aws:iam::111122223333:user/replicator', name: 'replicator' } };
    const prepare = multiRegionOperations.find((o) => o.name === 'PrepareReplica')!;
    await prepare.run(west.deps, peer, { KeyId: keyId, KeySpec: 'SYMMETRIC_DEFAULT', Replica: replica });
    expect((await metadataIn(west, keyId)).KeyState).toBe('Creating');
    expect(await abandonReplica.run(west.deps, intruder(), { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toMatchObject({ Removed: false });
    expect(await call(west, abandonReplica, { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toMatchObject({ Removed: false });
    expect((await metadataIn(west, keyId)).KeyState).toBe('Creating');
    expect(await abandonReplica.run(west.deps, peer, { KeyId: keyId, PrimaryRegion: 'us-east-1' })).toMatchObject({ Removed: true });
    await expectKmsError(call(west, describeKey, { KeyId: keyId }), 'NotFoundException');
  });
});
