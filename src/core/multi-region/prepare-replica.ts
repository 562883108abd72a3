/**
 * HsmKms.PrepareReplica — called by another region's deployment before it sends a multi-Region
 * key's material here (ReplicateKey: the key must not exist here yet; with `Existing: true`, a
 * rotation of the primary: the replica must be here): this HSM makes an RSA transport key pair (as
 * for GetParametersForImport), keeps the private half wrapped under its own domain key, single-use
 * and valid for ten minutes, and answers with the public key, the OAEP hashes this token does and
 * the key usages whose material it receives (`KeyUsages`; an earlier version, which does not list
 * them, is never sent a KEY_AGREEMENT key: it would unwrap that material as a signing key).
 *
 * A new replica needs `Replica` (the replica's settings, as ImportReplica takes them; sent by
 * primaries from this version on, ignored by older deployments): the replica key is recorded here at the same time,
 * in one transaction with the transport key, as a placeholder in KeyState `Creating` (no material):
 * DescribeKey and ListKeys show it while the material is on its way, as AWS does. A placeholder of
 * the same primary already here is reused (the primary tries again); ImportReplica completes it,
 * HsmKms.AbandonReplica removes it when the primary gives the replica up.
 */
import { randomUUID } from 'node:crypto';
import { KmsError } from '../errors.js';
import { KEY_SPECS } from '../model.js';
import type { JsonObject, KmsDeps, Operation } from '../operation.js';
import type { AuthorizationRequest, MetadataRepository } from '../ports.js';
import { blob, optionalBoolean, requiredEnum, requiredString } from '../validation.js';
import { keyArn } from '../key-resolver.js';
import { MULTI_REGION_KEY_ID } from './model.js';
import { isPlaceholderOf, placeholderKey, readReplicaSettings, replicaAuthorization, replicaSetRecord } from './replica-settings.js';
import { replicaTransportOf } from './transport.js';
import { versionsAuthorization } from './import-replica-versions.js';
import { RECEIVABLE_KEY_USAGES } from './versions.js';
import { lockNames } from '../locks.js';

/** How long a transport key waits for its material. */
export const TRANSPORT_KEY_VALIDITY_MS = 10 * 60 * 1000;
/** Transport keys waiting at once, over all keys (each is an HSM-wrapped RSA key in the store). */
export const MAX_PENDING_TRANSPORT_KEYS = 100;

/**
 * How many of the region's {@link MAX_PENDING_TRANSPORT_KEYS} one peer principal may hold while
 * `peers` RegionPeer principals exist: an equal share (at least one), so that a peer that asks for
 * many, by fault or on purpose, cannot leave the others none.
 */
export function transportKeyShare(peers: number): number {
  return Math.max(1, Math.floor(MAX_PENDING_TRANSPORT_KEYS / Math.max(1, peers)));
}

export const prepareReplica: Operation = {
  name: 'PrepareReplica',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    const keySpec = requiredEnum(input, 'KeySpec', KEY_SPECS);
    // For new versions of a replica already here (rotation), rather than for a new replica.
    const existing = optionalBoolean(input, 'Existing') ?? false;
    const transport = replicaTransportOf(deps.backend);
    if (!transport) throw new KmsError('UnsupportedOperationException', 'This deployment\'s HSM backend cannot receive multi-Region key material.');
    const replicaInput = input.Replica;
    if (replicaInput !== undefined && (existing || replicaInput === null || typeof replicaInput !== 'object' || Array.isArray(replicaInput)))
      throw new KmsError('ValidationException', 'Replica must be an object of the replica\'s settings, and is sent only for a new replica (not with Existing).');
    // A primary of an earlier version sends a new replica's settings only with ImportReplica: which
    // primary region the transfer is for (and so which peer may ask) is not known here, and any
    // bound peer would get transport keys, each counting against the cap, for transfers it cannot
    // complete. Refused for good (the primary gives the replica up) rather than answered.
    if (replicaInput === undefined && !existing)
      throw new KmsError(
        'UnsupportedOperationException',
        `PrepareReplica for a new replica of ${keyId} must carry the replica's settings (Replica), which the primary's deployment sends from this hsmkms version on; upgrade the deployment of the primary's region, then ReplicateKey again.`,
      );
    const replica = replicaInput === undefined ? undefined : readReplicaSettings(deps, ctx, replicaInput as JsonObject, keyId, keySpec);
    let here = await deps.store.getKey(keyId);
    // Every action of the call in one authorization, so that one quorum approval must cover the
    // rules guarding any of them. A transport key for a replica that is here serves its new
    // versions: only a caller that may send them gets one (the replica's owner, the primary's
    // peer principal). Any other RegionPeer could otherwise make them for every replica, each
    // keeping RemoveCreatingReplica refused.
    const requests: AuthorizationRequest[] = [{ principal: ctx.principal, action: 'hsmkms:PrepareReplica', context: { 'kms:KeySpec': keySpec, 'kms:MultiRegion': 'true' } }];
    if (replica) requests.push(replicaAuthorization(ctx, keySpec, replica));
    const versionsFor = here && existing ? await versionsAuthorization(deps, ctx, here) : undefined;
    if (versionsFor) requests.push(versionsFor.request);
    await deps.authorizer.authorize(requests);
    // A placeholder of this primary's earlier attempt: reused.
    if (here && replica && (await isPlaceholderOf(deps, here, keySpec, replica.primaryRegion, ctx.principal.arn))) here = undefined;
    else if (here && !existing) throw new KmsError('AlreadyExistsException', `A key with the id ${keyId} already exists in ${deps.settings.region}.`);
    if (!here && existing) throw new KmsError('NotFoundException', `Key '${keyArn(deps.settings, keyId)}' does not exist`);
    if (here && here.keySpec !== keySpec) throw new KmsError('ValidationException', `${here.arn} is a ${here.keySpec} key, not ${keySpec}.`);
    // New versions for a replica still `Creating` (it gets them all with its material), or for a key
    // that is no replica here: ImportReplicaVersions would refuse them, so no transport key either.
    if (here && existing && here.keyState === 'Creating') throw new KmsError('KMSInvalidStateException', `${here.arn} is Creating; its key material has not arrived yet.`);
    if (here && existing && (!versionsFor?.record || versionsFor.record.primaryRegion === deps.settings.region))
      throw new KmsError('UnsupportedOperationException', `${here.arn} is not a replica key here; its material changes only by rotation in ${deps.settings.region}.`);
    const now = deps.clock.now();
    await deps.store.multiRegion.deleteExpiredTransportKeys(now);
    // Checked first too, so that a full share or region costs no HSM work.
    await requireTransportKeyLeft(deps, deps.store, ctx.principal.arn, now);

    const pair = await deps.backend.createWrappingKeyPair('RSA_3072');
    const transportKeyId = randomUUID();
    const transportKey = {
      transportKeyId,
      keyId,
      wrappedPrivateKey: pair.wrapped,
      publicKey: pair.publicKey,
      createdAt: now,
      expiresAt: new Date(now.getTime() + TRANSPORT_KEY_VALIDITY_MS),
      requesterArn: ctx.principal.arn,
    };
    await deps.store.transaction(async (tx) => {
      // Counted again where it counts: other calls may have added theirs since the check above.
      await tx.holdLock(lockNames.transportKeys());
      await requireTransportKeyLeft(deps, tx, ctx.principal.arn, now);
      if (replica && !(await tx.getKey(keyId))) {
        await tx.insertKey(placeholderKey(deps, ctx, keyId, keySpec, replica));
        await tx.multiRegion.insertMultiRegionKey(replicaSetRecord(deps, keyId, replica, 'Creating'));
        if (replica.tags.length > 0) await tx.putTags(keyId, replica.tags);
      }
      await tx.multiRegion.insertTransportKey(transportKey);
    });
    // KeyUsages: what this version receives (an earlier one has no KEY_AGREEMENT and does not say).
    return { TransportKeyId: transportKeyId, PublicKey: blob(pair.publicKey), TransportHashes: transport.transportHashes(), KeyUsages: [...RECEIVABLE_KEY_USAGES] };
  },
};

/**
 * LimitExceededException, naming the limit, when the peer principal `requesterArn` holds its
 * share ({@link transportKeyShare}) of the transport keys valid at `now`, or the region holds
 * {@link MAX_PENDING_TRANSPORT_KEYS} (some made before shares were counted, or while fewer
 * peers existed).
 */
async function requireTransportKeyLeft(deps: KmsDeps, repo: MetadataRepository, requesterArn: string, now: Date): Promise<void> {
  const peers = await repo.countPrincipals('RegionPeer');
  const share = transportKeyShare(peers);
  // One peer's share is the region's whole: the region's count below says it.
  const held = share < MAX_PENDING_TRANSPORT_KEYS ? await repo.multiRegion.countTransportKeys(now, requesterArn) : 0;
  if (share < MAX_PENDING_TRANSPORT_KEYS && held >= share)
    throw new KmsError(
      'LimitExceededException',
      `${requesterArn} already has ${held} replica transfers waiting in ${deps.settings.region}, its share of the ${MAX_PENDING_TRANSPORT_KEYS} transport keys a region keeps ` +
        `(${share} for each of its ${peers} RegionPeer principals); try again once they are used or expire (within ${TRANSPORT_KEY_VALIDITY_MS / 60_000} minutes).`,
    );
  if ((await repo.multiRegion.countTransportKeys(now)) >= MAX_PENDING_TRANSPORT_KEYS)
    throw new KmsError(
      'LimitExceededException',
      `${MAX_PENDING_TRANSPORT_KEYS} replica transfers are already waiting in ${deps.settings.region}, the most a region keeps; try again in a few minutes.`,
    );
}
