/**
 * The CloudHSM-style roles, as one table: for each action, what each role's holders may do
 * before any policy is read. This is the only place roles are interpreted.
 *
 * Rules:
 * - `allow`: the role alone allows the action (an explicit Deny in a policy still wins).
 * - `policy`: policies, grants or ownership must allow it.
 * - `deny`: this role gives nothing; another role the principal holds may.
 * - `never`: refused whatever the policies or other roles say (a CryptoOfficer never uses a key).
 *
 * A principal holding several roles gets the most permissive rule among them, except that
 * `never` beats everything. The account root is not subject to this table (AWS root
 * semantics); an action missing from the table is refused to every role (fail closed), so a
 * new operation must add its row here.
 *
 * `RegionPeer` is the principal another region's deployment calls this one with (`hsmkms region
 * add` there): it may call the peer-to-peer multi-Region operations and GetCallerIdentity, and
 * never anything else. Those operations are for it alone: a key user or officer that could call
 * them could create a replica under a multi-Region key id (not a secret) with material of its own
 * choosing before the primary replicates it.
 */
import type { PrincipalRole } from '../model.js';

export type RoleRule = 'allow' | 'policy' | 'deny' | 'never';

/**
 * `key`: the action acts on a key and its key policy is evaluated (with root delegation to
 * identity policies). `account`: a key-independent action, decided by role and identity
 * policies only, as AWS does for CreateKey, ListKeys, GenerateRandom, custom key stores.
 */
export type ActionScope = 'key' | 'account';

export interface RoleTableRow {
  /** Words for explanations and error messages: "key use", "principal administration", … */
  readonly category: string;
  readonly scope: ActionScope;
  readonly rules: Readonly<Record<PrincipalRole, RoleRule>>;
  /** What an operator refused by role should do (appended to the refusal's message; NAME stands for the caller's user name). */
  readonly remedy?: string;
  /** A call between regions: only a RegionPeer bound to the region it acts for may make it (peer-region.ts). */
  readonly peer?: true;
}

function row(
  category: string,
  scope: ActionScope,
  CryptoOfficer: RoleRule,
  CryptoUser: RoleRule,
  Auditor: RoleRule,
  RegionPeer: RoleRule = 'never',
  remedy?: string,
): RoleTableRow {
  return { category, scope, rules: { CryptoOfficer, CryptoUser, Auditor, RegionPeer }, ...(remedy ? { remedy } : {}) };
}

const KEY_USE = row('key use', 'key', 'never', 'policy', 'deny');
const KEY_READ = row('key metadata read', 'key', 'allow', 'policy', 'allow');
const KEY_MANAGEMENT = row('key management', 'key', 'policy', 'policy', 'deny');
const KEY_CREATION = row('key creation', 'account', 'deny', 'allow', 'deny');
const ACCOUNT_LISTING = row('account listing', 'account', 'allow', 'allow', 'allow');
const RANDOM = row('random numbers', 'account', 'policy', 'allow', 'deny');
const KEY_STORE_MANAGEMENT = row('custom key store management', 'account', 'allow', 'deny', 'deny');
const KEY_STORE_READ = row('custom key store read', 'account', 'allow', 'policy', 'allow');
const GRANT_LISTING = row('grant listing', 'account', 'allow', 'policy', 'allow');
const PRINCIPAL_ADMINISTRATION = row('principal administration', 'account', 'allow', 'deny', 'deny');
const PRINCIPAL_READ = row('principal read', 'account', 'allow', 'deny', 'allow');
const QUORUM_RULES = row('quorum rule administration', 'account', 'allow', 'deny', 'deny');
const QUORUM_READ = row('quorum rule read', 'account', 'allow', 'policy', 'allow');
const APPROVALS = row('quorum approvals', 'account', 'allow', 'allow', 'allow');
const AUDIT_READ = row('audit read', 'account', 'allow', 'deny', 'allow');
const PEER_REMEDY =
  'Calls between regions are for the calling deployment\'s peer principal alone; if this caller is it, run on the deployment that refused it: hsmkms principal set-roles NAME --role RegionPeer';
/** Another region's deployment creating a replica here through its peer principal (src/core/multi-region). */
const REPLICA_CREATION: RoleTableRow = { ...row('replica key creation between regions', 'account', 'never', 'never', 'deny', 'allow', PEER_REMEDY), peer: true };
/** The primary's deployment keeping the replicas of its key in step: ownership (decide.ts: it follows the primary region) or the key policy decide. */
const REPLICA_SYNC: RoleTableRow = { ...row('replica key updates between regions', 'key', 'never', 'never', 'deny', 'policy', PEER_REMEDY), peer: true };
/** An operator removing a replica left `Creating` by a primary that never came back (src/core/multi-region). */
const STUCK_REPLICA_REMOVAL = row('stuck replica removal', 'account', 'allow', 'deny', 'deny');
const CALLER_IDENTITY = row('caller identity', 'account', 'allow', 'allow', 'allow', 'allow');

function rows(actions: string[], value: RoleTableRow): Array<[string, RoleTableRow]> {
  return actions.map((action) => [action, value]);
}

/** Action (as policies name it, `kms:Encrypt`, `hsmkms:CreatePrincipal`) → its row. */
export const ROLE_TABLE: ReadonlyMap<string, RoleTableRow> = new Map([
  ...rows(
    [
      'kms:Encrypt',
      'kms:Decrypt',
      'kms:ReEncryptFrom',
      'kms:ReEncryptTo',
      'kms:GenerateDataKey',
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:GenerateDataKeyPair',
      'kms:GenerateDataKeyPairWithoutPlaintext',
      'kms:Sign',
      'kms:Verify',
      'kms:GenerateMac',
      'kms:VerifyMac',
      'kms:GetPublicKey',
      'kms:DeriveSharedSecret',
    ],
    KEY_USE,
  ),
  ...rows(
    [
      'kms:DescribeKey',
      'kms:GetKeyPolicy',
      'kms:ListKeyPolicies',
      'kms:GetKeyRotationStatus',
      'kms:ListKeyRotations',
      'kms:ListResourceTags',
      'kms:ListGrants',
    ],
    KEY_READ,
  ),
  ...rows(
    [
      'kms:CreateAlias',
      'kms:UpdateAlias',
      'kms:DeleteAlias',
      'kms:TagResource',
      'kms:UntagResource',
      'kms:PutKeyPolicy',
      'kms:EnableKey',
      'kms:DisableKey',
      'kms:ScheduleKeyDeletion',
      'kms:CancelKeyDeletion',
      'kms:EnableKeyRotation',
      'kms:DisableKeyRotation',
      'kms:RotateKeyOnDemand',
      'kms:UpdateKeyDescription',
      'kms:GetParametersForImport',
      'kms:ImportKeyMaterial',
      'kms:DeleteImportedKeyMaterial',
      'kms:CreateGrant',
      'kms:RetireGrant',
      'kms:RevokeGrant',
      'kms:ReplicateKey',
      'kms:UpdatePrimaryRegion',
    ],
    KEY_MANAGEMENT,
  ),
  // From the primary's deployment, through its peer principal (which owns the key's replicas: decide.ts).
  ...rows(['hsmkms:SyncMultiRegionKey', 'hsmkms:ImportReplicaVersions'], REPLICA_SYNC),
  ['kms:CreateKey', KEY_CREATION],
  ...rows(['kms:ListKeys', 'kms:ListAliases'], ACCOUNT_LISTING),
  ['kms:GenerateRandom', RANDOM],
  ['kms:ListRetirableGrants', GRANT_LISTING],
  ...rows(
    [
      'kms:CreateCustomKeyStore',
      'kms:UpdateCustomKeyStore',
      'kms:ConnectCustomKeyStore',
      'kms:DisconnectCustomKeyStore',
      'kms:DeleteCustomKeyStore',
    ],
    KEY_STORE_MANAGEMENT,
  ),
  ['kms:DescribeCustomKeyStores', KEY_STORE_READ],
  ...rows(
    [
      'hsmkms:CreatePrincipal',
      'hsmkms:UpdatePrincipalRoles',
      'hsmkms:PutPrincipalPolicy',
      'hsmkms:DeletePrincipalPolicy',
      'hsmkms:DeletePrincipal',
      'hsmkms:CreateAccessKey',
      'hsmkms:DeleteAccessKey',
      'hsmkms:TagPrincipal',
      'hsmkms:UntagPrincipal',
    ],
    PRINCIPAL_ADMINISTRATION,
  ),
  ...rows(['hsmkms:ListPrincipals', 'hsmkms:GetPrincipal', 'hsmkms:ExplainAuthorization'], PRINCIPAL_READ),
  ...rows(['hsmkms:PutQuorumRule', 'hsmkms:DeleteQuorumRule'], QUORUM_RULES),
  ['hsmkms:ListQuorumRules', QUORUM_READ],
  ...rows(['hsmkms:ListApprovalRequests', 'hsmkms:GetApprovalRequest', 'hsmkms:ApproveRequest', 'hsmkms:RejectRequest'], APPROVALS),
  ...rows(['hsmkms:LookupAuditEvents', 'hsmkms:VerifyAuditTrail'], AUDIT_READ),
  // The private CA's other operations authorize kms:Sign / kms:DescribeKey on its keys (src/core/certificates).
  ['hsmkms:ListCertificateAuthorities', ACCOUNT_LISTING],
  ['hsmkms:GetCallerIdentity', CALLER_IDENTITY],
  ...rows(['hsmkms:PrepareReplica', 'hsmkms:ImportReplica', 'hsmkms:AbandonReplica'], REPLICA_CREATION),
  ['hsmkms:RemoveCreatingReplica', STUCK_REPLICA_REMOVAL],
]);

/** Roles whose holder may do what policies allow with a key it created (CryptoUser), or a replica it made (RegionPeer). */
export const OWNING_ROLES: readonly PrincipalRole[] = ['CryptoUser', 'RegionPeer'];

/** What the role gate says about one call. */
export interface RoleVerdict {
  /** The combined rule over the principal's roles (`never` when the action has no row). */
  rule: RoleRule;
  /** The role whose rule decided (absent when none applies). */
  role?: PrincipalRole | undefined;
  row?: RoleTableRow | undefined;
}

const STRENGTH: Record<RoleRule, number> = { deny: 0, policy: 1, allow: 2, never: 3 };

/** The rule for a principal holding `roles` (see the module comment for how roles combine). */
export function roleVerdict(roles: readonly PrincipalRole[], action: string): RoleVerdict {
  const tableRow = ROLE_TABLE.get(action);
  if (!tableRow) return { rule: 'never' };
  let best: RoleVerdict = { rule: 'deny', row: tableRow };
  for (const role of roles) {
    const rule = tableRow.rules[role];
    if (rule === undefined) continue;
    if (rule === 'never') return { rule, role, row: tableRow };
    if (STRENGTH[rule] > STRENGTH[best.rule]) best = { rule, role, row: tableRow };
  }
  return best;
}

/** The scope of an action: `key` unless the table says it is key-independent. */
/** Whether the action is a call between regions (see peer-region.ts). */
export function isPeerAction(action: string): boolean {
  return ROLE_TABLE.get(action)?.peer === true;
}

export function actionScope(action: string): ActionScope {
  return ROLE_TABLE.get(action)?.scope ?? 'key';
}
