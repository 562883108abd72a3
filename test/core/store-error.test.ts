/** Stores report conflicts and missing records in the core's terms; the core words them as AWS does. */
import { describe, expect, it } from 'vitest';
import { StoreError, kmsErrorFromStore } from '../../src/core/store-error.js';

describe('kmsErrorFromStore', () => {
  it("gives AWS's exception names and wording", () => {
    const aliasArn = 'arn:aws:kms:us-east-1:111122223333:alias/app';
    const keyArn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(kmsErrorFromStore(new StoreError('conflict', 'alias', aliasArn))).toMatchObject({
      type: 'AlreadyExistsException',
      message: `An alias with the name ${aliasArn} already exists`,
    });
    expect(kmsErrorFromStore(new StoreError('not-found', 'alias', aliasArn))).toMatchObject({ type: 'NotFoundException', message: `Alias ${aliasArn} is not found.` });
    expect(kmsErrorFromStore(new StoreError('conflict', 'key', keyArn))).toMatchObject({ type: 'AlreadyExistsException', message: `A key with the ARN ${keyArn} already exists.` });
    expect(kmsErrorFromStore(new StoreError('not-found', 'key', keyArn))).toMatchObject({ type: 'NotFoundException', message: `Key '${keyArn}' does not exist` });
    const principal = kmsErrorFromStore(new StoreError('conflict', 'principal', 'arn:aws:iam::111122223333:user/bob'));
    expect(principal).toMatchObject({ type: 'AlreadyExistsException', message: 'A principal with the ARN arn:aws:iam::111122223333:user/bob already exists.' });
    expect(principal.httpStatus).toBe(400);
    const grantId = 'a'.repeat(64);
    expect(kmsErrorFromStore(new StoreError('conflict', 'grant', grantId))).toMatchObject({ type: 'AlreadyExistsException', message: `A grant with the id ${grantId} already exists.` });
    const requestId = `ar-${'0'.repeat(32)}`;
    expect(kmsErrorFromStore(new StoreError('conflict', 'approval-request', requestId))).toMatchObject({
      type: 'AlreadyExistsException',
      message: `An approval request with the id ${requestId} already exists.`,
    });
  });
});

describe('the dispatcher', () => {
  it('turns a StoreError that escapes an operation (a lost race) into the AWS error, not KMSInternalException', async () => {
    const { createDispatcher } = await import('../../src/core/dispatch.js');
    const aliasArn = 'arn:aws:kms:us-east-1:111122223333:alias/raced';
    const operations = new Map([['CreateAlias', { name: 'CreateAlias', run: async () => Promise.reject(new StoreError('conflict', 'alias', aliasArn)) }]]);
    const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
    const deps = { audit: { record() {} }, clock: { now: () => new Date() } } as unknown as Parameters<typeof createDispatcher>[0];
    const principal = { arn: 'arn:aws:iam::111122223333:root', name: 'root', accountId: '111122223333', roles: [], createdAt: new Date(0) };
    await expect(createDispatcher(deps, operations, silent).dispatch('CreateAlias', { requestId: 'r', principal }, {})).rejects.toMatchObject({
      type: 'AlreadyExistsException',
      message: `An alias with the name ${aliasArn} already exists`,
    });
  });
});

describe('an unreachable store and the request deadline', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
  const principal = { arn: 'arn:aws:iam::111122223333:root', name: 'root', accountId: '111122223333', roles: [], createdAt: new Date(0) };

  async function dispatcherFor(run: () => Promise<Record<string, never>>, deadlineMs?: number) {
    const { createDispatcher } = await import('../../src/core/dispatch.js');
    const deps = { audit: { record() {} }, clock: { now: () => new Date() } } as unknown as Parameters<typeof createDispatcher>[0];
    return createDispatcher(deps, new Map([['DescribeKey', { name: 'DescribeKey', run }]]), silent, deadlineMs ? { deadlineMs } : {});
  }

  it('gives retryable AWS errors without the store detail', async () => {
    const { StoreUnavailableError } = await import('../../src/core/store-error.js');
    const refused = await dispatcherFor(() => Promise.reject(new StoreUnavailableError('postgres metadata store: connect ECONNREFUSED /tmp/.s.PGSQL.5432', false)));
    const error = await refused.dispatch('DescribeKey', { requestId: 'r', principal }, {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ type: 'KMSInternalException', message: 'The metadata store is unavailable. Try again later.' });
    const slow = await dispatcherFor(() => Promise.reject(new StoreUnavailableError('canceling statement due to statement timeout', true)));
    await expect(slow.dispatch('DescribeKey', { requestId: 'r', principal }, {})).rejects.toMatchObject({ type: 'DependencyTimeoutException' });
  });

  it('answers DependencyTimeoutException when an operation outlives its deadline, instead of waiting for it', async () => {
    const hanging = await dispatcherFor(() => new Promise(() => undefined), 200);
    const started = Date.now();
    await expect(hanging.dispatch('DescribeKey', { requestId: 'r', principal }, {})).rejects.toMatchObject({
      type: 'DependencyTimeoutException',
      message: 'The request did not complete within 0.2 s. Try again later.',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    // The route's deadline (set when the request arrived) wins over a fresh one.
    const early = await hanging.dispatch('DescribeKey', { requestId: 'r', principal, deadline: Date.now() + 20 }, {}).catch((e: unknown) => e);
    expect(early).toMatchObject({ type: 'DependencyTimeoutException' });
  });
});
