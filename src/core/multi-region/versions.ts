/**
 * Key material versions on their way between deployments: how the source wraps them to the
 * destination's transport key (PrepareReplica), the `Versions` member that carries them, and how
 * the destination unwraps them into its own HSM.
 */
import { createPublicKey } from 'node:crypto';
import { EC_SPEC_CURVES, ecSpkiPoint } from '../ec-spki.js';
import { BackendError, KmsError } from '../errors.js';
import { KEY_USAGES, type KeyMaterialVersion, type KeyRecord, type KeySpec, type KeyUsage, type RotationType } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import { constraintError, KEY_MATERIAL_ID_RULE, isBase64, requiredString } from '../validation.js';
import { callPeer } from './peer-calls.js';
import type { TransferMaterialRecord } from './model.js';
import { replicaTransportOf, type ReplicableMaterial, type TransportHash } from './transport.js';

/** The key usages whose material this deployment receives (PrepareReplica's `KeyUsages`). */
export const RECEIVABLE_KEY_USAGES: readonly KeyUsage[] = KEY_USAGES;

/** At most this many versions in one transfer (a key has at most 25 on-demand rotations plus yearly automatic ones). */
export const MAX_VERSIONS_PER_TRANSFER = 100;

/** One version as it travels. */
export interface TravellingVersion {
  version: KeyMaterialVersion;
  transfer: TransferMaterialRecord;
}

/** What the destination needs to unwrap: its transport key and the OAEP hash both tokens do. */
export interface WrappedVersions {
  transportKeyId: string;
  hash: TransportHash;
  /** The `Versions` member. */
  versions: JsonObject[];
}

/**
 * Asks `region` for a transport key for `key` (`existing`: the key is already there, as a replica,
 * for new versions; otherwise `replica`: the new replica's settings, which the region records as
 * a `Creating` placeholder) and wraps each version's material to it inside this HSM.
 */
export async function wrapVersionsFor(
  deps: KmsDeps,
  region: string,
  key: KeyRecord,
  travelling: TravellingVersion[],
  existing: boolean,
  replica?: JsonObject,
): Promise<WrappedVersions> {
  const transport = replicaTransportOf(deps.backend);
  if (!transport) throw new KmsError('UnsupportedOperationException', 'This deployment\'s HSM backend cannot send key material to another region.');
  const prepared = await callPeer(deps, region, 'PrepareReplica', {
    KeyId: key.keyId,
    KeySpec: key.keySpec,
    ...(existing ? { Existing: true } : {}),
    ...(replica ? { Replica: replica } : {}),
  });
  // A deployment of an earlier version does not list the usages it receives, and would make a
  // KEY_AGREEMENT key's material a signing key: it is not sent one (the replica is given up there).
  const usages = Array.isArray(prepared.KeyUsages) ? prepared.KeyUsages : ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC'];
  if (!usages.includes(key.keyUsage))
    throw new KmsError(
      'UnsupportedOperationException',
      `The deployment of ${region} cannot receive ${key.keyUsage} key material (it runs an earlier hsmkms version); upgrade it, then replicate ${key.keyId} again.`,
    );
  const theirs = Array.isArray(prepared.TransportHashes) ? prepared.TransportHashes : [];
  const hash = transport.transportHashes().find((h) => theirs.includes(h));
  if (typeof prepared.TransportKeyId !== 'string' || typeof prepared.PublicKey !== 'string' || !hash)
    throw new KmsError('KMSInternalException', `The deployment of ${region} offered no transport key this HSM can wrap to.`);
  const publicKey = Buffer.from(prepared.PublicKey, 'base64');
  const versions: JsonObject[] = [];
  for (const { version, transfer } of travelling) {
    const wrapped = await transport.wrapForReplica({ keySpec: key.keySpec, keyUsage: key.keyUsage, transferWrapped: transfer.transferWrapped }, publicKey, hash);
    versions.push({
      KeyMaterialId: version.versionId,
      CreatedAt: Math.floor(version.createdAt.getTime() / 1000),
      WrappedMaterial: wrapped.toString('base64'),
      ...(version.rotationType ? { RotationType: version.rotationType } : {}),
      ...(version.publicKey ? { PublicKey: Buffer.from(version.publicKey).toString('base64') } : {}),
    });
  }
  return { transportKeyId: prepared.TransportKeyId, hash, versions };
}

/** The versions of `key` with their transfer blobs, oldest first; throws if one cannot travel. */
export async function travellingVersions(deps: KmsDeps, key: KeyRecord): Promise<TravellingVersion[]> {
  const transfers = new Map((await deps.store.multiRegion.listTransferMaterial(key.keyId)).map((t) => [t.versionId, t]));
  const versions = await deps.store.listKeyVersions(key.keyId);
  const out = versions.map((version) => ({ version, transfer: transfers.get(version.versionId) }));
  if (out.length === 0 || out.length > MAX_VERSIONS_PER_TRANSFER || out.some((v) => !v.transfer))
    throw new KmsError('KMSInternalException', `The key material of ${key.arn} cannot be sent to another region.`);
  return out as TravellingVersion[];
}

/** A parsed member of `Versions`. */
export interface ArrivingVersion {
  versionId: string;
  createdAt: Date;
  wrapped: Buffer;
  rotationType?: RotationType | undefined;
  publicKey?: Buffer | undefined;
}

/** Parses the `Versions` member (1–100 versions, each a KeyMaterialId and its wrapped material). */
export function parseVersions(input: JsonObject, field: string): ArrivingVersion[] {
  const value = input[field];
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_VERSIONS_PER_TRANSFER)
    throw constraintError(field, Array.isArray(value) ? `[${value.length} items]` : null, `Member must be a list of 1 to ${MAX_VERSIONS_PER_TRANSFER} versions`);
  const seen = new Set<string>();
  return value.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new KmsError('SerializationException', `Field '${field}' must be a list of versions.`);
    const item = raw as JsonObject;
    const where = `${field}.${i + 1}`;
    const versionId = requiredString(item, 'KeyMaterialId', KEY_MATERIAL_ID_RULE);
    if (seen.has(versionId)) throw new KmsError('ValidationException', `${where}: KeyMaterialId ${versionId} is listed twice.`);
    seen.add(versionId);
    const createdAt = item.CreatedAt;
    if (typeof createdAt !== 'number' || !Number.isInteger(createdAt) || createdAt < 0 || createdAt > 32_503_680_000)
      throw constraintError(`${where}.CreatedAt`, createdAt ?? null, 'Member must be epoch seconds');
    const wrapped = item.WrappedMaterial;
    if (typeof wrapped !== 'string' || wrapped.length < 4 || wrapped.length > 24_000 || !isBase64(wrapped))
      throw constraintError(`${where}.WrappedMaterial`, '…', 'Member must be base64, at most 16 KiB');
    const rotationType = item.RotationType;
    if (rotationType !== undefined && rotationType !== 'AUTOMATIC' && rotationType !== 'ON_DEMAND')
      throw constraintError(`${where}.RotationType`, rotationType, 'Member must satisfy enum value set: [AUTOMATIC, ON_DEMAND]');
    const publicKey = item.PublicKey;
    if (publicKey !== undefined && (typeof publicKey !== 'string' || publicKey.length > 12_000 || !isBase64(publicKey)))
      throw constraintError(`${where}.PublicKey`, '…', 'Member must be base64, at most 8 KiB');
    return {
      versionId,
      createdAt: new Date(createdAt * 1000),
      wrapped: Buffer.from(wrapped, 'base64'),
      rotationType: rotationType as RotationType | undefined,
      publicKey: typeof publicKey === 'string' ? Buffer.from(publicKey, 'base64') : undefined,
    };
  });
}

/** Takes the transport key (single use) and unwraps every arriving version into this HSM. */
export async function unwrapArriving(
  deps: KmsDeps,
  keyId: string,
  keySpec: KeySpec,
  transportKeyId: string,
  hash: TransportHash,
  arriving: ArrivingVersion[],
  keyUsage: KeyUsage,
): Promise<Array<{ version: KeyMaterialVersion; transferWrapped: Buffer }>> {
  const transport = replicaTransportOf(deps.backend);
  if (!transport) throw new KmsError('UnsupportedOperationException', 'This deployment\'s HSM backend cannot receive multi-Region key material.');
  const now = deps.clock.now();
  for (const [i, v] of arriving.entries())
    if (v.publicKey !== undefined && !isPublicKeyOf(keySpec, v.publicKey))
      throw new KmsError('ValidationException', `Versions.${i + 1}.PublicKey is not a ${keySpec} SubjectPublicKeyInfo.`);
  const transportKey = await deps.store.multiRegion.takeTransportKey(transportKeyId);
  if (!transportKey || transportKey.keyId !== keyId || transportKey.expiresAt <= now)
    throw new KmsError('ValidationException', `The transport key ${transportKeyId} is unknown, used, expired, or made for another key; call PrepareReplica again.`);
  const ref = { id: `transport/${transportKeyId}`, keySpec: 'RSA_3072' as const, wrapped: transportKey.wrappedPrivateKey };
  const out: Array<{ version: KeyMaterialVersion; transferWrapped: Buffer }> = [];
  try {
    for (const v of arriving) {
      let material: ReplicableMaterial;
      try {
        material = await transport.unwrapFromReplica(ref, hash, v.wrapped, keySpec, keyUsage, v.publicKey);
      } catch (error) {
        if (error instanceof BackendError && error.kind === 'data')
          throw new KmsError(
            'IncorrectKeyMaterialException',
            `The material sent for ${keyId} (${v.versionId}) with transport key ${transportKeyId} is not a ${keySpec} key matching its PublicKey: ${error.message}`,
          );
        throw error;
      }
      out.push({
        // The public key as the token checked it against the material, in GetPublicKey's form (never the bytes as sent).
        version: { keyId, versionId: v.versionId, createdAt: v.createdAt, wrappedMaterial: material.wrapped, publicKey: material.publicKey, rotationType: v.rotationType },
        transferWrapped: material.transferWrapped,
      });
    }
  } finally {
    deps.backend.forget(ref.id);
  }
  return out;
}

/**
 * Whether a public key the primary sent is one of `spec` (it is stored and served by GetPublicKey
 * and Verify here). An EC key is read by ec-spki.ts: node:crypto's key accessors abort the process
 * on a point at infinity.
 */
function isPublicKeyOf(spec: KeySpec, spki: Buffer): boolean {
  const curve = EC_SPEC_CURVES[spec];
  if (curve !== undefined) return ecSpkiPoint(spki, curve) !== undefined;
  const bits = /^RSA_(\d+)$/.exec(spec)?.[1];
  if (bits === undefined) return false;
  try {
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails?.modulusLength === Number(bits);
  } catch {
    return false;
  }
}
