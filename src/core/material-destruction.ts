/**
 * Key material that is an object in the key store of its own (EdDSA keys:
 * KeyBackend.materialIsObject) is the only copy of its private key: it is destroyed once no key
 * references it, and only then, whatever fails in between.
 *
 * - Deletion: the scheduler records the destruction in the transaction that deletes the key and
 *   destroys the object after the commit. A destruction that fails (the HSM unreachable, a
 *   timeout) stays recorded, and later passes try it again, with backoff, until it succeeds.
 * - Creation: CreateKey records it after the HSM made the object and before the transaction
 *   that inserts the key, which withdraws it again. A commit reported failed that in fact landed
 *   (a connection lost at COMMIT) withdrew the record with the key; one that did not land leaves
 *   it. The object then goes at once if the store says the key does not exist, and otherwise
 *   (the store cannot say) when the scheduler finds the record and the store can.
 *
 * Each attempt is claimed in the store first (claimMaterialDestruction): only while no key of
 * that id exists, and only once per attempt across nodes and workers. CreateKey's withdrawal
 * fails once an attempt has begun, so no key commits while its object goes. Should two
 * processes still destroy one object (one claimed, stalled past its backoff, and another
 * claimed again), the second finds nothing to destroy.
 */
import { materialId } from './key-metadata.js';
import type { KeyMaterialVersion, KeyRecord, MaterialDestruction } from './model.js';
import { retryDelayMs } from './multi-region/replication-jobs.js';
import type { KmsDeps } from './operation.js';
import type { Logger, MetadataRepository } from './ports.js';
import { describeError as describe } from './service-events.js';

/** Recorded destructions a scheduler pass tries at most. */
export const DESTRUCTIONS_PER_PASS = 100;

/**
 * How long a destruction CreateKey recorded waits before the scheduler tries it: far longer than
 * a call takes (30 s deadline by default), so that it does not fail calls still in progress.
 */
export const CREATION_GRACE_MS = 15 * 60_000;

/**
 * Inside the transaction that deletes `key`: records the destruction of each of its versions
 * that is an object of its own. Returns the records, to {@link destroyRecorded} after the commit.
 */
export async function recordDestructions(
  deps: KmsDeps,
  tx: MetadataRepository,
  key: KeyRecord,
  versions: KeyMaterialVersion[],
  now: Date,
): Promise<MaterialDestruction[]> {
  if (!deps.backend.materialIsObject(key.keySpec)) return [];
  const recorded = versions.map((v) => destructionOf(key, v, now, now));
  for (const d of recorded) await tx.insertMaterialDestruction(d);
  return recorded;
}

/**
 * CreateKey, after the HSM made `version` and before the transaction that inserts `key`: records
 * its destruction, to be withdrawn by that transaction ({@link withdrawCreation}). Undefined when
 * the material is no object of its own (a wrapped blob dies with its row). When the record cannot
 * be written the key never was, and the object is destroyed before the error goes on.
 */
export async function recordCreation(deps: KmsDeps, key: KeyRecord, version: KeyMaterialVersion, now: Date): Promise<MaterialDestruction | undefined> {
  if (!deps.backend.materialIsObject(key.keySpec)) return undefined;
  const destruction = destructionOf(key, version, now, new Date(now.getTime() + CREATION_GRACE_MS));
  try {
    await deps.store.insertMaterialDestruction(destruction);
  } catch (error) {
    // Had the record landed after all, the scheduler finds no object later: harmless.
    await deps.backend.destroyMaterial(refOf(destruction)).catch((e: unknown) => failed(deps.logger, destruction, e));
    throw error;
  }
  return destruction;
}

/** Thrown inside CreateKey's transaction when the scheduler has begun destroying the new object. */
export class CreationAbandoned extends Error {}

/** Inside CreateKey's transaction: withdraws the record; throws {@link CreationAbandoned} when an attempt on it has begun. */
export async function withdrawCreation(tx: MetadataRepository, destruction: MaterialDestruction): Promise<void> {
  if (!(await tx.withdrawMaterialDestruction(destruction.keyId, destruction.versionId))) throw new CreationAbandoned();
}

/**
 * After CreateKey's transaction failed: destroys the object now when the store confirms that the
 * key does not exist. When the store cannot say, nothing is destroyed: the record stays for the
 * scheduler (if the commit landed after all, the record went with it and the key keeps its object).
 */
export async function settleFailedCreation(deps: KmsDeps, destruction: MaterialDestruction): Promise<void> {
  if (!(await keyMayExist(deps, destruction.keyId))) await destroyRecorded(deps, deps.logger, [destruction]);
}

/**
 * After a CreateKey transaction reported failed: false only when the store confirms the key does
 * not exist. A commit reported failed may have landed (a connection lost at COMMIT), and a store
 * that cannot answer says nothing either way.
 */
export async function keyMayExist(deps: KmsDeps, keyId: string): Promise<boolean> {
  try {
    return (await deps.store.getKey(keyId)) !== undefined;
  } catch {
    return true;
  }
}

/**
 * No record waits longer than this (the longest backoff, an hour; the creation grace is shorter),
 * plus room for nodes' clocks to differ: one that does was written before the clock was set back.
 */
const LONGEST_WAIT_MS = retryDelayMs(Number.MAX_SAFE_INTEGER) + 5 * 60_000;

/** One pass's share: up to {@link DESTRUCTIONS_PER_PASS} recorded destructions that are due, tried. */
export async function runDueDestructions(deps: KmsDeps, logger: Logger | undefined, limit = DESTRUCTIONS_PER_PASS): Promise<void> {
  const now = deps.clock.now();
  const due = await deps.store.listMaterialDestructionsDue(now, limit, new Date(now.getTime() + LONGEST_WAIT_MS));
  await destroyRecorded(deps, logger, due);
}

/**
 * Tries each destruction as recorded (its `attempts` as read): claims the attempt, destroys the
 * object, removes the record. Not claimed (another process began it, or the key exists): left
 * alone. A failed destruction keeps its record, to be tried after its backoff; it is logged with
 * the key id and key material id (the operator can remove the object with
 * `pkcs11-tool --delete-object` should it keep failing).
 */
export async function destroyRecorded(deps: KmsDeps, logger: Logger | undefined, destructions: readonly MaterialDestruction[]): Promise<void> {
  for (const d of destructions) {
    const retryAt = new Date(deps.clock.now().getTime() + retryDelayMs(d.attempts + 1));
    let claimed: boolean;
    try {
      claimed = await deps.store.claimMaterialDestruction(d.keyId, d.versionId, d.attempts, retryAt);
    } catch (error) {
      logger?.warn({ keyId: d.keyId, keyMaterialId: d.versionId, err: describe(error) }, 'could not begin destroying a token object no key references; will retry');
      continue;
    }
    if (!claimed) continue;
    try {
      // Finds the object by its reference and destroys what it finds: none left is success.
      await deps.backend.destroyMaterial(refOf(d));
    } catch (error) {
      failed(logger, d, error, d.attempts + 1, retryAt);
      continue;
    }
    await deps.store.deleteMaterialDestruction(d.keyId, d.versionId).catch((error: unknown) =>
      // The next attempt finds no object and removes the record then.
      logger?.warn({ keyId: d.keyId, keyMaterialId: d.versionId, err: describe(error) }, 'token object destroyed; its record stays until the next attempt'),
    );
  }
}

function failed(logger: Logger | undefined, d: MaterialDestruction, error: unknown, attempts?: number, retryAt?: Date): void {
  logger?.error(
    { keyId: d.keyId, keyMaterialId: d.versionId, attempts, retryAt: retryAt?.toISOString(), err: describe(error) },
    'the token object of key material no key references could not be destroyed',
  );
}

function destructionOf(key: KeyRecord, version: KeyMaterialVersion, now: Date, notBefore: Date): MaterialDestruction {
  return { keyId: key.keyId, versionId: version.versionId, keySpec: key.keySpec, wrappedMaterial: version.wrappedMaterial, createdAt: now, notBefore, attempts: 0 };
}

function refOf(d: MaterialDestruction): { id: string; keySpec: MaterialDestruction['keySpec']; wrapped: Uint8Array } {
  return { id: materialId(d.keyId, d.versionId), keySpec: d.keySpec, wrapped: d.wrappedMaterial };
}
