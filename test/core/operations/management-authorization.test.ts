/**
 * Every key-management operation asks the one authorization hook, with its own `kms:` action
 * and the key it acts on, before it changes anything; a refusal leaves the store untouched.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import type { JsonObject, Operation } from '../../../src/core/operation.js';
import { cancelKeyDeletion } from '../../../src/core/operations/cancel-key-deletion.js';
import { createAlias } from '../../../src/core/operations/create-alias.js';
import { deleteAlias } from '../../../src/core/operations/delete-alias.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { disableKeyRotation } from '../../../src/core/operations/disable-key-rotation.js';
import { enableKey } from '../../../src/core/operations/enable-key.js';
import { enableKeyRotation } from '../../../src/core/operations/enable-key-rotation.js';
import { getKeyPolicy } from '../../../src/core/operations/get-key-policy.js';
import { getKeyRotationStatus } from '../../../src/core/operations/get-key-rotation-status.js';
import { listAliases } from '../../../src/core/operations/list-aliases.js';
import { listKeyPolicies } from '../../../src/core/operations/list-key-policies.js';
import { listKeyRotations } from '../../../src/core/operations/list-key-rotations.js';
import { listKeys } from '../../../src/core/operations/list-keys.js';
import { listResourceTags } from '../../../src/core/operations/list-resource-tags.js';
import { putKeyPolicy } from '../../../src/core/operations/put-key-policy.js';
import { rotateKeyOnDemand } from '../../../src/core/operations/rotate-key-on-demand.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { tagResource } from '../../../src/core/operations/tag-resource.js';
import { untagResource } from '../../../src/core/operations/untag-resource.js';
import { updateAlias } from '../../../src/core/operations/update-alias.js';
import { updateKeyDescription } from '../../../src/core/operations/update-key-description.js';
import type { AuthorizationRequest } from '../../../src/core/ports.js';
import { defaultKeyPolicy } from '../../../src/core/policy/default-policy.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../../support/kms-deps.js';
import { call, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
let keyId: string;
let otherKeyId: string;
let pendingKeyId: string;
beforeEach(async () => {
  kms = await createTestKms();
  keyId = (await newKey(kms, { Tags: [{ TagKey: 't', TagValue: 'v' }] })).keyId;
  otherKeyId = (await newKey(kms)).keyId;
  pendingKeyId = (await newKey(kms)).keyId;
  await call(kms, createAlias, { AliasName: 'alias/existing', TargetKeyId: keyId });
  await call(kms, scheduleKeyDeletion, { KeyId: pendingKeyId });
});
afterEach(async () => {
  await kms.close();
});

const cases: Array<[Operation, () => JsonObject, 'key' | 'none']> = [
  [describeKey, () => ({ KeyId: keyId }), 'key'],
  [listKeys, () => ({}), 'none'],
  [updateKeyDescription, () => ({ KeyId: keyId, Description: 'x' }), 'key'],
  [enableKey, () => ({ KeyId: keyId }), 'key'],
  [disableKey, () => ({ KeyId: keyId }), 'key'],
  [scheduleKeyDeletion, () => ({ KeyId: keyId }), 'key'],
  [cancelKeyDeletion, () => ({ KeyId: pendingKeyId }), 'key'],
  [createAlias, () => ({ AliasName: 'alias/new', TargetKeyId: keyId }), 'key'],
  [updateAlias, () => ({ AliasName: 'alias/existing', TargetKeyId: otherKeyId }), 'key'],
  [deleteAlias, () => ({ AliasName: 'alias/existing' }), 'key'],
  [listAliases, () => ({}), 'none'],
  [tagResource, () => ({ KeyId: keyId, Tags: [{ TagKey: 'n', TagValue: 'v' }] }), 'key'],
  [untagResource, () => ({ KeyId: keyId, TagKeys: ['t'] }), 'key'],
  [listResourceTags, () => ({ KeyId: keyId }), 'key'],
  [getKeyPolicy, () => ({ KeyId: keyId }), 'key'],
  [putKeyPolicy, () => ({ KeyId: keyId, Policy: defaultKeyPolicy(TEST_SETTINGS) }), 'key'],
  [listKeyPolicies, () => ({ KeyId: keyId }), 'key'],
  [enableKeyRotation, () => ({ KeyId: keyId }), 'key'],
  [disableKeyRotation, () => ({ KeyId: keyId }), 'key'],
  [getKeyRotationStatus, () => ({ KeyId: keyId }), 'key'],
  [rotateKeyOnDemand, () => ({ KeyId: keyId }), 'key'],
  [listKeyRotations, () => ({ KeyId: keyId }), 'key'],
];

describe('authorization hook', () => {
  it.each(cases.map(([op, input, scope]) => [op.name, op, input, scope] as const))(
    '%s asks the hook for its kms: action and writes nothing when refused',
    async (name, op, input, scope) => {
      // One hook call, which may name several actions the call takes together (UpdateAlias: the old and the new key).
      const calls: AuthorizationRequest[][] = [];
      kms.deps.authorizer = {
        async authorize(requested) {
          calls.push([requested].flat());
          throw new KmsError('AccessDeniedException', 'not allowed');
        },
      };
      await expectNoWrite(kms, () => call(kms, op, input()), 'AccessDeniedException', 'not allowed');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.length).toBeGreaterThan(0);
      for (const request of calls[0]!) {
        expect(request.action).toBe(`kms:${name}`);
        expect(request.principal).toBe(kms.ctx.principal);
        if (scope === 'key') expect(request.key?.keyId).toBeDefined();
        else expect(request.key).toBeUndefined();
      }
    },
  );
});
