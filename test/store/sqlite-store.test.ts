import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { describeMetadataStoreContract } from './metadata-store-contract.js';

describeMetadataStoreContract('SQLite in memory', () => openSqliteStore({ path: ':memory:' }));

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-store-'));
let n = 0;
describeMetadataStoreContract('SQLite file (WAL)', () => openSqliteStore({ path: join(dir, `store-${++n}.db`) }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
