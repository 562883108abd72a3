/**
 * Votes cast at the same moment on one approval request, against each store: every vote counts
 * and the request ends where the votes put it. On PostgreSQL (READ COMMITTED) two vote
 * transactions that do not serialize on the request each see only their own vote: two approvals
 * of a 2-of-2 request left it Pending for good, and a rejection racing the deciding approval was
 * recorded but left the request Approved, so the requester could still use it.
 *
 * A vote also races the deletion of its voter: DeletePrincipal removes the principal's votes on
 * open requests, but a vote committed just after that (or cast by a caller authenticated just
 * before it) stayed, and counted toward the request as a vote of a principal that no longer exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vote } from '../../../src/core/quorum/operations/vote.js';
import { deletePrincipal } from '../../../src/core/admin/delete-principal.js';
import { isFullyApproved } from '../../../src/core/quorum/index.js';
import type { ApprovalRequestRecord } from '../../../src/core/quorum/quorum.js';
import type { PrincipalRecord } from '../../../src/core/model.js';
import type { KmsDeps, RequestContext } from '../../../src/core/operation.js';
import type { MetadataStore } from '../../../src/core/ports.js';
import { openPostgresStore } from '../../../src/store/postgres/index.js';
import { openSqliteStore } from '../../../src/store/sqlite/index.js';
import { describeWithPostgres } from '../../store/postgres-describe.js';

const ACCOUNT = '111122223333';
const NOW = new Date(1_800_000_100_000);
const arn = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const principal = (name: string): PrincipalRecord => ({ arn: arn(name), name, accountId: ACCOUNT, roles: ['CryptoUser'], createdAt: NOW });
const APPROVERS = ['a', 'b', 'c'].map(principal);

let sequence = 0;
function request(minApprovals: number): ApprovalRequestRecord {
  return {
    requestId: `ar-${(++sequence).toString(16).padStart(32, '0')}`,
    requesterArn: arn('requester'),
    operation: 'ScheduleKeyDeletion',
    action: 'kms:ScheduleKeyDeletion',
    parametersHash: 'f'.repeat(64),
    parameters: '{"KeyId":"k"}',
    requirements: [{ ruleId: 'qr-1', minApprovals, approvers: APPROVERS.map((p) => p.arn) }],
    status: 'Pending',
    createdAt: NOW,
    expiresAt: new Date(NOW.getTime() + 3_600_000),
    votes: [],
  };
}

function depsOf(store: MetadataStore): KmsDeps {
  const allowAll = { authorize: async () => undefined };
  return { store, clock: { now: () => NOW }, authorizer: allowAll, settings: { partition: 'aws', accountId: ACCOUNT } } as unknown as KmsDeps;
}

const ROOT_CONTEXT = { requestId: 'vote-race', principal: { ...principal('root'), arn: `arn:aws:iam::${ACCOUNT}:root`, roles: ['CryptoOfficer'] } } as unknown as RequestContext;

/** Votes of principals that are gone: none may remain, and none may decide the request. */
async function expectNoVotesOf(store: MetadataStore, requestId: string, deleted: string): Promise<void> {
  const stored = (await store.getApprovalRequest(requestId))!;
  expect(stored.votes.map((v) => v.approverArn)).not.toContain(deleted);
  expect(isFullyApproved(stored)).toBe(false);
}

function describeVoteRaces(name: string, open: () => Promise<MetadataStore>, openOther?: () => Promise<MetadataStore>): void {
  describe(`concurrent votes (${name})`, () => {
    let store: MetadataStore;
    /** A second node on the same database where there is one (PostgreSQL), else the same store. */
    let second: MetadataStore | undefined;
    const other = () => second ?? store;
    beforeAll(async () => {
      second = await openOther?.();
    }, 60_000);
    afterAll(async () => second?.close());
    beforeAll(async () => {
      store = await open();
      for (const approver of APPROVERS) await store.insertPrincipal(approver);
    }, 60_000);
    afterAll(async () => store?.close());

    it('approves a 2-of-3 request that two approvers approve at once', async () => {
      for (let round = 0; round < 5; round++) {
        const r = request(2);
        await store.insertApprovalRequest(r);
        await Promise.all([vote(depsOf(store), APPROVERS[0]!, r.requestId, 'Approve'), vote(depsOf(store), APPROVERS[1]!, r.requestId, 'Approve')]);
        const stored = (await store.getApprovalRequest(r.requestId))!;
        expect(stored.votes).toHaveLength(2);
        expect(stored.status).toBe('Approved');
      }
    });

    it('ends Rejected when a rejection races the deciding approval', async () => {
      for (let round = 0; round < 5; round++) {
        const r = request(1);
        await store.insertApprovalRequest(r);
        await Promise.allSettled([vote(depsOf(store), APPROVERS[0]!, r.requestId, 'Approve'), vote(depsOf(store), APPROVERS[1]!, r.requestId, 'Reject')]);
        const stored = (await store.getApprovalRequest(r.requestId))!;
        // Whichever came first, the rejection counts: on an Approved request as on a Pending one.
        expect(stored.votes.map((v) => v.decision)).toContain('Reject');
        expect(stored.status).toBe('Rejected');
      }
    });

    it('refuses the vote of a principal deleted after it was authenticated', async () => {
      const voter = principal(`gone-${++sequence}`);
      await store.insertPrincipal(voter);
      const r = { ...request(1), requirements: [{ ruleId: 'qr-1', minApprovals: 1, approvers: [voter.arn] }] };
      await store.insertApprovalRequest(r);
      await deletePrincipal.run(depsOf(store), ROOT_CONTEXT, { UserName: voter.name });
      await expect(vote(depsOf(store), voter, r.requestId, 'Approve')).rejects.toMatchObject({ name: 'AccessDeniedException' });
      await expectNoVotesOf(store, r.requestId, voter.arn);
      expect((await store.getApprovalRequest(r.requestId))!.status).toBe('Pending');
    });

    it('never counts the vote of a principal deleted while it votes', async () => {
      for (let round = 0; round < 8; round++) {
        const voter = principal(`racing-${++sequence}`);
        await store.insertPrincipal(voter);
        const r = { ...request(1), requirements: [{ ruleId: 'qr-1', minApprovals: 1, approvers: [voter.arn] }] };
        await store.insertApprovalRequest(r);
        const [voted, deleted] = await Promise.allSettled([
          vote(depsOf(store), voter, r.requestId, 'Approve'),
          deletePrincipal.run(depsOf(other()), ROOT_CONTEXT, { UserName: voter.name }),
        ]);
        expect(deleted.status).toBe('fulfilled');
        if (voted.status === 'rejected') expect(voted.reason).toMatchObject({ name: 'AccessDeniedException' });
        await expectNoVotesOf(store, r.requestId, voter.arn);
      }
    });
  });
}

describeVoteRaces('SQLite', () => openSqliteStore({ path: ':memory:' }));

describeWithPostgres('PostgreSQL', (connectionString) => {
  const schema = `votes_${process.pid}_${Date.now().toString(36)}`;
  const node = () => openPostgresStore({ connectionString: connectionString(), schema, maxConnections: 4 });
  describeVoteRaces('PostgreSQL', node, node);
});
