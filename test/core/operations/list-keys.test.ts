import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listKeys } from '../../../src/core/operations/list-keys.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('ListKeys', () => {
  it('lists nothing on an empty store', async () => {
    expect(await call(kms, listKeys, {})).toEqual({ Keys: [], Truncated: false });
  });

  it('pages with Limit and Marker, KeyId and KeyArn per key', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) {
      created.push(await newKey(kms));
      kms.clock.advance(1000);
    }
    const first = await call(kms, listKeys, { Limit: 2 });
    expect(first.Truncated).toBe(true);
    expect(typeof first.NextMarker).toBe('string');
    const second = await call(kms, listKeys, { Limit: 2, Marker: first.NextMarker });
    expect(second).toEqual({ Keys: [expect.anything()], Truncated: false });
    const all = [...(first.Keys as unknown[]), ...(second.Keys as unknown[])];
    expect(all).toEqual(created.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })));
  });

  it.each([
    [{ Limit: 0 }, 'ValidationException', "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"],
    [{ Limit: 1001 }, 'ValidationException', 'less than or equal to 1000'],
    [{ Limit: 'ten' }, 'SerializationException', 'Limit'],
    [{ Marker: 'garbage' }, 'InvalidMarkerException', undefined],
    [{ Marker: '' }, 'ValidationException', "at 'marker'"],
  ] as const)('rejects %o', async (input, type, message) => {
    await newKey(kms);
    await expectKmsError(call(kms, listKeys, input), type, message);
  });
});
