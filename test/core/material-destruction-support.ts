/**
 * For the tests of material-destruction.ts: whether the run's SoftHSM2 token holds the token
 * object behind an Ed25519 key version (pkcs11-tool, straight on the real module), and a store
 * whose port can be made to fail the way a database does (a commit reported failed).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseTokenKeyReference } from '../../src/backend/pkcs11/token-key-reference.js';
import type { MaterialDestruction } from '../../src/core/model.js';
import type { MetadataRepository, MetadataStore } from '../../src/core/ports.js';

/** True when the token lists a private key object with the CKA_ID that `wrapped` references. */
export function tokenHoldsObject(wrapped: Uint8Array): boolean {
  const id = parseTokenKeyReference(wrapped).id.toString('hex');
  // The run's throwaway test token (test/global-setup.ts): its PIN on pkcs11-tool's command line is acceptable here only.
  const pin = readFileSync(process.env.HSMKMS_TEST_PIN_FILE!, 'utf8').trim();
  const listing = execFileSync(
    'pkcs11-tool',
    ['--module', process.env.HSMKMS_TEST_MODULE!, '--token-label', process.env.HSMKMS_TEST_TOKEN!, '--login', '--pin', pin, '--list-objects', '--type', 'privkey'],
    { encoding: 'utf8', env: process.env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return listing.split('\n').some((line) => /^\s*ID:\s/.test(line) && line.trim().slice(3).trim() === id);
}

export interface FaultyStore {
  store: MetadataStore;
  /** The destructions recorded through this store, in order. */
  recorded: MaterialDestruction[];
  /** Run before each transaction begins. */
  beforeTransaction?: (() => Promise<void>) | undefined;
  /** What the next transaction does wrong, once: `lost-commit` commits and then reports failure; `fail` fails without committing. */
  nextTransaction?: 'lost-commit' | 'fail' | undefined;
  /** True: reads of keys fail (the store cannot say). */
  unreachable: boolean;
}

/** `real` with faults injected at its port (the store's own SQL is unchanged). */
export function faultyStore(real: MetadataStore): FaultyStore {
  const faults: FaultyStore = { store: real, recorded: [], unreachable: false };
  faults.store = new Proxy(real, {
    get(target, name, receiver) {
      if (name === 'transaction')
        return async <T>(fn: (tx: MetadataRepository) => Promise<T>): Promise<T> => {
          const fault = faults.nextTransaction;
          faults.nextTransaction = undefined;
          await faults.beforeTransaction?.();
          const result = await target.transaction(async (tx) => {
            const value = await fn(tx);
            if (fault === 'fail') throw new Error('connection terminated unexpectedly');
            return value;
          });
          if (fault === 'lost-commit') throw new Error('connection terminated unexpectedly');
          return result;
        };
      if (name === 'insertMaterialDestruction')
        return async (d: MaterialDestruction) => {
          await target.insertMaterialDestruction(d);
          faults.recorded.push(d);
        };
      if (name === 'getKey')
        return async (keyId: string) => {
          if (faults.unreachable) throw new Error('connect ECONNREFUSED');
          return target.getKey(keyId);
        };
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return faults;
}
