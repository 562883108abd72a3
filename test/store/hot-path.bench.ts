/**
 * The reads on every Encrypt/Decrypt/Sign request, through the store's fast path, through
 * Kysely, and as bare better-sqlite3 (the floor). Run: `npx vitest bench test/store`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { bench, describe } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { SqlRepository } from '../../src/store/sql/sql-repository.js';
import { key, version } from './fixtures.js';

const KEYS = 10_000;
const path = join(mkdtempSync(join(tmpdir(), 'hsmkms-bench-')), 'meta.db');
const store = await openSqliteStore({ path, synchronous: 'normal' });
const ids: string[] = [];
const versionId = 'b'.repeat(64);
await store.transaction(async (tx) => {
  for (let i = 0; i < KEYS; i++) {
    const k = key();
    ids.push(k.keyId);
    await tx.insertKey(k);
    await tx.insertKeyVersion(version(k.keyId, { versionId }));
  }
});
const raw = new Database(path, { readonly: true });
const rawKey = raw.prepare('select * from keys where key_id = ?');
const viaKysely = SqlRepository.prototype.getKey;
let i = 0;
const nextId = () => ids[i++ % KEYS]!;

describe(`getKey among ${KEYS} keys`, () => {
  bench('store fast path', async () => {
    await store.getKey(nextId());
  });
  bench('store through Kysely', async () => {
    await viaKysely.call(store, nextId());
  });
  bench('bare better-sqlite3', () => {
    rawKey.get(nextId());
  });
});

describe(`getKeyVersion among ${KEYS} keys`, () => {
  bench('store fast path', async () => {
    await store.getKeyVersion(nextId(), versionId);
  });
});
