/** Optimistic updates of a custom key store record, shared by the operations that change one. */
import { KmsError } from '../errors.js';
import type { CustomKeyStoreRecord } from '../key-stores/model.js';
import { resolveStore } from '../key-stores/rules.js';
import type { KmsDeps } from '../operation.js';
import type { MetadataRepository } from '../ports.js';

/**
 * Reads the store, lets `change` re-check and return the new record (or undefined for "nothing
 * to do"), and writes it with the next revision; retries when another writer won the race.
 * Returns the record written, or undefined.
 */
export async function updateStoreRecord(
  deps: KmsDeps,
  customKeyStoreId: string,
  change: (current: CustomKeyStoreRecord, tx: MetadataRepository) => CustomKeyStoreRecord | undefined | Promise<CustomKeyStoreRecord | undefined>,
): Promise<CustomKeyStoreRecord | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const result = await deps.store.transaction(async (tx) => {
      const current = await resolveStore(tx, customKeyStoreId);
      const next = await change(current, tx);
      if (!next) return { done: true as const, record: undefined };
      const record = { ...next, revision: current.revision + 1 };
      return (await tx.keyStores.updateCustomKeyStore(record)) ? { done: true as const, record } : { done: false as const };
    });
    if (result.done) return result.record;
  }
  throw new KmsError('KMSInternalException', `Custom key store ${customKeyStoreId} is being changed by other requests; try again.`);
}
