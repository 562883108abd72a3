/**
 * Names of the locks a transaction holds (`MetadataRepository.holdLock`, core/ports.ts) before it reads
 * something and writes on the strength of it: a count under a limit, a principal's existence.
 * Transactions that hold the same name take turns, on every node, so that concurrent calls
 * cannot each count N-1 and each insert the Nth row.
 *
 * A transaction holds at most one of these, taken before anything else it locks, so that two
 * transactions never wait for each other's names (a deadlock).
 */
/** The lock names, one function per fact a transaction reads (see the module doc). */
export const lockNames = {
  /** A principal: its existence (a vote, its deletion) and its access keys, policies and tags. */
  principal: (arn: string) => `principal:${arn}`,
  /** The number of principals. */
  principals: () => 'principals',
  /** A key's aliases, grants and tags. */
  key: (keyId: string) => `key:${keyId}`,
  /** The approval requests one principal has pending. */
  approvalRequestsOf: (requesterArn: string) => `approval-requests:${requesterArn}`,
  /** The quorum rules (their number, and one rule per action and key). */
  quorumRules: () => 'quorum-rules',
  /** Custom key stores: their number, names, clusters and proxies. */
  customKeyStores: () => 'custom-key-stores',
  /** The number of ECC_NIST_EDWARDS25519 keys (each a token object of its own: operations/create-key.ts). */
  ed25519Keys: () => 'ed25519-keys',
  /** Transport keys waiting for replica material: their number in the region and each peer principal's share. */
  transportKeys: () => 'transport-keys',
} as const;

