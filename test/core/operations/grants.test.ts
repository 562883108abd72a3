/** Grant operations in the core: the per-key quota, grants going with their key, and list markers. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_GRANTS_PER_KEY, type GrantRecord } from '../../../src/core/grants/index.js';
import { createGrant } from '../../../src/core/operations/create-grant.js';
import { listGrants } from '../../../src/core/operations/list-grants.js';
import { listRetirableGrants } from '../../../src/core/operations/list-retirable-grants.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { startScheduler } from '../../../src/core/scheduler.js';
import type { Logger } from '../../../src/core/ports.js';
import { createTestKms, TEST_ROOT, type TestKms } from '../../support/kms-deps.js';
import { call, DAY_MS, expectKmsError, newKey } from './management-support.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const GRANTEE = TEST_ROOT.arn;

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('CreateGrant quota', () => {
  it(`refuses the grant after ${MAX_GRANTS_PER_KEY} with LimitExceededException, and counts a Name retry as no new grant`, async () => {
    const { keyId } = await newKey(kms);
    const template: Omit<GrantRecord, 'grantId'> = {
      keyId,
      granteePrincipal: GRANTEE,
      issuingAccount: TEST_ROOT.arn,
      creatorPrincipal: TEST_ROOT.arn,
      operations: ['Decrypt'],
      creationDate: new Date(0),
    };
    await kms.store.transaction(async (tx) => {
      for (let i = 0; i < MAX_GRANTS_PER_KEY - 1; i++) await tx.insertGrant({ ...template, grantId: i.toString(16).padStart(64, '0') });
    });
    const last = await call(kms, createGrant, { KeyId: keyId, GranteePrincipal: GRANTEE, Operations: ['Encrypt'] });
    await expectKmsError(call(kms, createGrant, { KeyId: keyId, GranteePrincipal: GRANTEE, Operations: ['Encrypt'] }), 'LimitExceededException', '50000');
    // A retry of an existing named grant is not a new grant.
    await kms.store.deleteGrant(last.GrantId as string);
    const named = await call(kms, createGrant, { KeyId: keyId, GranteePrincipal: GRANTEE, Operations: ['Encrypt'], Name: 'n' });
    expect((await call(kms, createGrant, { KeyId: keyId, GranteePrincipal: GRANTEE, Operations: ['Encrypt'], Name: 'n' })).GrantId).toBe(named.GrantId);
    expect(await kms.store.countGrants(keyId)).toBe(MAX_GRANTS_PER_KEY);
  }, 120_000);
});

describe('grants and key deletion', () => {
  it('deletes a key’s grants with the key', async () => {
    const { keyId } = await newKey(kms);
    const { GrantId } = await call(kms, createGrant, { KeyId: keyId, GranteePrincipal: GRANTEE, Operations: ['Decrypt'] });
    expect(((await call(kms, listGrants, { KeyId: keyId })).Grants as unknown[]).length).toBe(1);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    // CreateGrant needs an enabled key.
    await expectKmsError(call(kms, createGrant, { KeyId: keyId, GranteePrincipal: GRANTEE, Operations: ['Decrypt'] }), 'KMSInvalidStateException');
    kms.clock.advance(7 * DAY_MS);
    const scheduler = startScheduler(kms.deps, silent, { intervalMs: 3_600_000 });
    await scheduler.runOnce();
    await scheduler.stop();
    expect(await kms.store.getGrant(GrantId as string)).toBeUndefined();
  });
});

describe('grant list markers', () => {
  it('page ListGrants and ListRetirableGrants, and are refused by any other grant list', async () => {
    const [a, b] = [await newKey(kms), await newKey(kms)];
    const retirer = `arn:aws:iam::${TEST_ROOT.accountId}:role/retirer`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      kms.clock.advance(1000);
      const out = await call(kms, createGrant, { KeyId: a.keyId, GranteePrincipal: GRANTEE, RetiringPrincipal: retirer, Operations: ['Decrypt'] });
      ids.push(out.GrantId as string);
    }
    await call(kms, createGrant, { KeyId: b.keyId, GranteePrincipal: GRANTEE, RetiringPrincipal: retirer, Operations: ['Decrypt'] });

    const seen: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await call(kms, listGrants, { KeyId: a.keyId, Limit: 1, ...(marker ? { Marker: marker } : {}) });
      seen.push(...(page.Grants as Array<{ GrantId: string }>).map((g) => g.GrantId));
      expect(page.Truncated).toBe(page.NextMarker !== undefined);
      if (!page.Truncated) break;
      marker = page.NextMarker as string;
    }
    expect(seen).toEqual(ids);

    const keyMarker = (await call(kms, listGrants, { KeyId: a.keyId, Limit: 1 })).NextMarker as string;
    const retirableMarker = (await call(kms, listRetirableGrants, { RetiringPrincipal: retirer, Limit: 1 })).NextMarker as string;
    expect(((await call(kms, listRetirableGrants, { RetiringPrincipal: retirer, Limit: 10, Marker: retirableMarker })).Grants as unknown[]).length).toBe(3);
    // Another key's list, the other operation's list, another retiring principal's list.
    await expectKmsError(call(kms, listGrants, { KeyId: b.keyId, Marker: keyMarker }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listGrants, { KeyId: a.keyId, Marker: retirableMarker }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listRetirableGrants, { RetiringPrincipal: retirer, Marker: keyMarker }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listRetirableGrants, { RetiringPrincipal: `${retirer}2`, Marker: retirableMarker }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listGrants, { KeyId: a.keyId, Marker: 'bm90IGEgbWFya2Vy' }), 'InvalidMarkerException');
    // A marker of a 256-character retiring principal is as short as any.
    const long = `arn:aws:iam::${TEST_ROOT.accountId}:role/${'r'.repeat(256 - `arn:aws:iam::${TEST_ROOT.accountId}:role/`.length)}`;
    for (let i = 0; i < 2; i++) await call(kms, createGrant, { KeyId: a.keyId, GranteePrincipal: GRANTEE, RetiringPrincipal: long, Operations: ['Decrypt'] });
    expect(((await call(kms, listRetirableGrants, { RetiringPrincipal: long, Limit: 1 })).NextMarker as string).length).toBe(retirableMarker.length);
  });
});
