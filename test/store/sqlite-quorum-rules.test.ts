/** The SQLite fast path for quorum rules (read on every allowed call) is never stale. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { QuorumRuleRecord } from '../../src/core/quorum/quorum.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-sqlite-quorum-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rule = (ruleId: string, minApprovals = 2): QuorumRuleRecord => ({
  ruleId,
  action: 'kms:ScheduleKeyDeletion',
  taggedKeysOnly: false,
  minApprovals,
  approvers: ['arn:aws:iam::111122223333:user/a', 'arn:aws:iam::111122223333:user/b'],
  createdAt: new Date(1_800_000_000_000),
  updatedAt: new Date(1_800_000_000_000),
});

describe('SQLite quorum rules fast path', () => {
  it('sees rules another worker, a raw connection or this store committed on the very next read', async () => {
    const path = join(dir, 'meta.db');
    const a = await openSqliteStore({ path });
    const b = await openSqliteStore({ path });
    const raw = new Database(path);
    try {
      expect(await b.listQuorumRules()).toEqual([]);
      await a.putQuorumRule(rule('qr-1'));
      expect(await b.listQuorumRules()).toStrictEqual([rule('qr-1')]);
      raw.prepare("update quorum_rules set min_approvals = 1 where rule_id = 'qr-1'").run();
      expect((await b.listQuorumRules())[0]?.minApprovals).toBe(1);
      await b.deleteQuorumRule('qr-1');
      expect(await b.listQuorumRules()).toEqual([]);
      // Inside a transaction the transaction's own view is read.
      await b.transaction(async (tx) => {
        await tx.putQuorumRule(rule('qr-2'));
        expect(await tx.listQuorumRules()).toStrictEqual([rule('qr-2')]);
      });
      expect(await a.listQuorumRules()).toStrictEqual([rule('qr-2')]);
      // Callers get copies.
      const first = await a.listQuorumRules();
      first[0]!.approvers.push('changed');
      expect(await a.listQuorumRules()).toStrictEqual([rule('qr-2')]);
    } finally {
      raw.close();
      await a.close();
      await b.close();
    }
  });
});
