import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listResourceTags } from '../../../src/core/operations/list-resource-tags.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { tagResource } from '../../../src/core/operations/tag-resource.js';
import { untagResource } from '../../../src/core/operations/untag-resource.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('TagResource, UntagResource, ListResourceTags', () => {
  it('adds, overwrites, removes and lists tags', async () => {
    const { keyId, arn } = await newKey(kms, { Tags: [{ TagKey: 'a', TagValue: '1' }] });
    expect(await call(kms, tagResource, { KeyId: arn, Tags: [{ TagKey: 'a', TagValue: '2' }, { TagKey: 'b', TagValue: '' }] })).toEqual({});
    expect(await call(kms, listResourceTags, { KeyId: keyId })).toEqual({
      Tags: [
        { TagKey: 'a', TagValue: '2' },
        { TagKey: 'b', TagValue: '' },
      ],
      Truncated: false,
    });
    expect(await call(kms, untagResource, { KeyId: keyId, TagKeys: ['a', 'not-there'] })).toEqual({});
    expect((await call(kms, listResourceTags, { KeyId: keyId })).Tags).toEqual([{ TagKey: 'b', TagValue: '' }]);
  });

  it('pages ListResourceTags with Limit and Marker', async () => {
    const tags = Array.from({ length: 5 }, (_, i) => ({ TagKey: `k${i}`, TagValue: `v${i}` }));
    const { keyId } = await newKey(kms, { Tags: tags });
    const p1 = await call(kms, listResourceTags, { KeyId: keyId, Limit: 2 });
    const p2 = await call(kms, listResourceTags, { KeyId: keyId, Limit: 2, Marker: p1.NextMarker });
    const p3 = await call(kms, listResourceTags, { KeyId: keyId, Limit: 2, Marker: p2.NextMarker });
    expect([p1.Truncated, p2.Truncated, p3.Truncated]).toEqual([true, true, false]);
    expect([...(p1.Tags as unknown[]), ...(p2.Tags as unknown[]), ...(p3.Tags as unknown[])]).toEqual(tags);
    await expectKmsError(call(kms, listResourceTags, { KeyId: keyId, Marker: 'bad!' }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listResourceTags, { KeyId: keyId, Limit: 51 }), 'ValidationException', 'less than or equal to 50');
  });

  it('keeps a key at 50 tags at most, counting existing ones', async () => {
    const { keyId } = await newKey(kms, { Tags: Array.from({ length: 49 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' })) });
    await call(kms, tagResource, { KeyId: keyId, Tags: [{ TagKey: 'k0', TagValue: 'overwrite' }, { TagKey: 'k49', TagValue: 'v' }] });
    await expectNoWrite(kms, () => call(kms, tagResource, { KeyId: keyId, Tags: [{ TagKey: 'k50', TagValue: 'v' }] }), 'TagException', 'at most 50');
  });

  it.each([
    ['no Tags', {}, 'ValidationException', "at 'tags'"],
    ['an aws: tag', { Tags: [{ TagKey: 'aws:x', TagValue: 'v' }] }, 'TagException', 'reserved'],
    ['a long value', { Tags: [{ TagKey: 'k', TagValue: 'v'.repeat(257) }] }, 'ValidationException', "at 'tags.1.member.tagValue'"],
  ] as const)('TagResource rejects %s, writing nothing', async (_name, input, type, message) => {
    const { keyId } = await newKey(kms, { Tags: [{ TagKey: 'a', TagValue: '1' }] });
    await expectNoWrite(kms, () => call(kms, tagResource, { KeyId: keyId, ...input }), type, message);
  });

  it('UntagResource validates TagKeys', async () => {
    const { keyId } = await newKey(kms);
    await expectKmsError(call(kms, untagResource, { KeyId: keyId }), 'ValidationException', "at 'tagKeys'");
    await expectKmsError(
      call(kms, untagResource, { KeyId: keyId, TagKeys: ['a', ''] }),
      'ValidationException',
      "at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length greater than or equal to 1]",
    );
    await expectKmsError(call(kms, untagResource, { KeyId: keyId, TagKeys: ['k'.repeat(129)] }), 'ValidationException', 'less than or equal to 128');
    await expectKmsError(call(kms, untagResource, { KeyId: keyId, TagKeys: ['a', 7] }), 'SerializationException');
  });

  it('UntagResource refuses more tag keys than a key can have, before the store sees them (no "too many SQL variables")', async () => {
    const { keyId } = await newKey(kms, { Tags: [{ TagKey: 'a', TagValue: '1' }] });
    const fifty = Array.from({ length: 50 }, (_, i) => (i === 0 ? 'a' : `k${i}`));
    expect(await call(kms, untagResource, { KeyId: keyId, TagKeys: fifty })).toEqual({});
    for (const count of [51, 40_000])
      await expectNoWrite(
        kms,
        () => call(kms, untagResource, { KeyId: keyId, TagKeys: Array.from({ length: count }, (_, i) => `k${i}`) }),
        'ValidationException',
        `Value '[${count} items]' at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50`,
      );
  });

  it('TagResource and CreateKey refuse a Tags list longer than the quota before reading its members', async () => {
    const { keyId } = await newKey(kms);
    const many = Array.from({ length: 40_000 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' }));
    await expectNoWrite(kms, () => call(kms, tagResource, { KeyId: keyId, Tags: many }), 'TagException', 'Too many tags');
    await expectKmsError(newKey(kms, { Tags: many }), 'TagException', 'Too many tags');
  });

  it('refuses tag changes on a key pending deletion but still lists its tags', async () => {
    const { keyId, arn } = await newKey(kms, { Tags: [{ TagKey: 'a', TagValue: '1' }] });
    await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    await expectNoWrite(kms, () => call(kms, tagResource, { KeyId: keyId, Tags: [{ TagKey: 'b', TagValue: '2' }] }), 'KMSInvalidStateException', `${arn} is pending deletion.`);
    await expectNoWrite(kms, () => call(kms, untagResource, { KeyId: keyId, TagKeys: ['a'] }), 'KMSInvalidStateException');
    expect((await call(kms, listResourceTags, { KeyId: keyId })).Tags).toEqual([{ TagKey: 'a', TagValue: '1' }]);
  });

  it('returns NotFoundException for unknown keys', async () => {
    for (const [op, input] of [
      [tagResource, { Tags: [] }],
      [untagResource, { TagKeys: [] }],
      [listResourceTags, {}],
    ] as const)
      await expectKmsError(call(kms, op, { KeyId: 'alias/none', ...input }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
  });
});
