/**
 * Who runs the background work (src/core/scheduler.ts) when several nodes share one store:
 * exactly one node at a time holds the lease; when it dies, another takes it over at its next
 * look. The lease only keeps nodes from doing the same work at the same time; what makes each
 * job run once is the job itself, which re-checks inside its own transaction that it is still
 * due (a key's revision, its deletion date, its rotation date) and does nothing otherwise.
 */

export interface LeaderLease {
  /**
   * Takes the lease if no node holds it, or confirms that this node still does. False when
   * another node holds it, or when the store cannot be reached (then nobody here runs jobs).
   */
  acquire(): Promise<boolean>;
  /**
   * Whether this node still holds the lease, checked with the store before each job: a node
   * that lost its connection (and with it the lease) stops between jobs.
   */
  stillHeld(): Promise<boolean>;
  /** Gives the lease up (shutdown), so that another node can take over at once. */
  release(): Promise<void>;
}

/** One node, or the SQLite workers' worker 0: always the leader. */
export const soleLeader: LeaderLease = {
  acquire: async () => true,
  stillHeld: async () => true,
  release: async () => undefined,
};
