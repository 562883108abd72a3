/**
 * The `HsmKms.*` administration API as the console calls it: the shared protocol module
 * (src/client/hsmkms-protocol.ts, the same code the CLI uses) over fetch, signed with the KMS
 * client's own SHA-256 and credentials, and one typed entry per operation the console uses.
 */
import { HsmKmsCaller, type HsmKmsCredentials, type SignedRequest } from '../../../src/client/hsmkms-protocol.js';
import { CERTIFICATE_PROFILES, type CertificateProfileName } from '../../../src/ca/model.js';
import type { PrincipalRole } from '../../../src/core/model.js';
import type { RevocationReason } from './certificate-rules.js';

export type { PrincipalRole };

/** Epoch seconds, as the HsmKms API writes timestamps (the KMS SDK turns its own into Dates). */
export type EpochSeconds = number;

export interface CallerIdentity {
  Account: string;
  Arn: string;
  UserId: string;
  UserName: string;
  Roles: PrincipalRole[];
  Root: boolean;
  AccessKeyId?: string;
}

export interface PrincipalSummary {
  Arn: string;
  UserName: string;
  Roles: PrincipalRole[];
  CreateDate: EpochSeconds;
}

export interface IdentityPolicy {
  PolicyName: string;
  PolicyDocument: string;
  CreateDate: EpochSeconds;
  UpdateDate: EpochSeconds;
}

export interface AccessKeySummary {
  AccessKeyId: string;
  Status: string;
  CreateDate: EpochSeconds;
}

export interface PrincipalDetails extends PrincipalSummary {
  Tags: Array<{ TagKey: string; TagValue: string }>;
  Policies: IdentityPolicy[];
  AccessKeys: AccessKeySummary[];
  OwnedKeyCount: number;
}

export const APPROVAL_STATUSES = ['Pending', 'Approved', 'Rejected', 'Consumed', 'Expired'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export interface ApprovalRequest {
  ApprovalRequestId: string;
  Status: ApprovalStatus;
  Requester: string;
  Operation: string;
  Action: string;
  KeyId?: string;
  Parameters: unknown;
  /** Members the approval covers that Parameters shows cut short or not at all (secrets, blobs). */
  WithheldParameters?: string[];
  ParametersHash: string;
  /** Every key the call resolved to (two for ReEncrypt and UpdateAlias); KeyId names the first. */
  HashedKeyArns?: string[];
  Rules: Array<{ RuleId: string; MinApprovals: number; Approvers: string[]; Approvals: string[] }>;
  Votes: Array<{ Approver: string; Decision: 'Approve' | 'Reject'; Date: EpochSeconds }>;
  CreationDate: EpochSeconds;
  ExpirationDate: EpochSeconds;
  DecisionDate?: EpochSeconds;
}

export type ExplainedDecision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny' | 'QuorumRequired';

export interface StatementRef {
  Policy: string;
  PolicyType: 'key' | 'identity';
  Sid?: string;
  Index: number;
  Effect: 'Allow' | 'Deny';
}

export interface StatementView extends StatementRef {
  Applies: boolean;
  PrincipalMatched: boolean;
  ActionMatched: boolean;
  ResourceMatched: boolean;
  Conditions: Array<{ Operator: string; Key: string; PolicyValues: string[]; RequestValues: string[] | string | null; Held: boolean }>;
}

export interface Explanation {
  Decision: ExplainedDecision;
  DecidedBy: string;
  Principal: { Arn: string; Roles: PrincipalRole[]; Root: boolean };
  Action: string;
  Resource: string;
  RoleRule: { Rule: string; Role?: string; Category?: string; Note?: string };
  Summary: string;
  KeyOwner?: string;
  GrantId?: string;
  QuorumRules?: Array<{ RuleId: string; Action: string; MinApprovals: number; Approvers: string[] }>;
  Message?: string;
  DecisiveStatements?: StatementRef[];
  Statements?: StatementView[];
}

/** One event of the audit trail, as LookupAuditEvents answers (CloudTrail's Event shape). */
export interface AuditEvent {
  /** `<nodeId>:<sequence>`: the record's place in its node's chain. */
  EventId: string;
  EventName: string;
  EventTime: EpochSeconds;
  EventSource: string;
  Username: string;
  PrincipalArn: string;
  ErrorCode?: string;
  Resources: Array<{ ResourceType: string; ResourceName: string }>;
  /** The record as stored: one JSON line of the chain. */
  CloudTrailEvent: string;
}

export const AUDIT_LOOKUP_ATTRIBUTES = ['EventName', 'Username', 'PrincipalArn', 'ResourceName', 'KeyId', 'ErrorCode', 'EventId'] as const;
export type AuditLookupAttribute = (typeof AUDIT_LOOKUP_ATTRIBUTES)[number];

export interface AuditNodeSummary {
  NodeId: string;
  Files: number;
  Records: number;
  Digests: number;
  FirstSequence?: number;
  LastSequence?: number;
  FirstTime?: string;
  LastTime?: string;
  /** The last record vouched for by a digest whose signature verified. */
  SignedThrough?: number;
}

export interface AuditFinding {
  /** `problem`: the trail is not what was written; `note`: explained by normal operation. */
  Severity: 'problem' | 'note';
  Kind: string;
  NodeId: string;
  File?: string;
  Line?: number;
  Sequence?: number;
  Message: string;
}

export interface AuditVerification {
  Ok: boolean;
  From: EpochSeconds;
  To: EpochSeconds;
  KeyFingerprint?: string;
  Nodes: AuditNodeSummary[];
  Findings: AuditFinding[];
  FindingsTruncated: boolean;
}

export { CERTIFICATE_PROFILES };
export type CertificateProfile = CertificateProfileName;
export type CertificateStatus = 'GOOD' | 'REVOKED' | 'EXPIRED';

export { MAX_CSR_BYTES, REVOCATION_REASONS, type RevocationReason } from './certificate-rules.js';

export interface CertificateAuthority {
  CaName: string;
  KeySpec: string;
  SigningAlgorithm: string;
  CreationDate: EpochSeconds;
  RootKeyArn: string;
  IntermediateKeyArn: string;
  OcspKeyArn: string;
  /** PEM. */
  RootCertificate: string;
  IntermediateCertificate: string;
  IntermediateSerialNumber: string;
  IntermediateNotAfter: EpochSeconds;
  Status: 'ACTIVE' | 'REVOKED' | 'EXPIRED';
  IntermediateRevocationDate?: EpochSeconds;
  /** Absolute URLs written into certificates (the CA's base URL, which may differ from this page's origin). */
  Urls: { Chain: string; RootCertificate: string; IntermediateCertificate: string; Crl: string; RootCrl: string; Ocsp: string };
}

export interface CertificateSummary {
  SerialNumber: string;
  Subject: string;
  Kind: CertificateProfile | 'intermediate-ca' | 'ocsp-responder';
  Issuer: 'INTERMEDIATE' | 'ROOT';
  NotBefore: EpochSeconds;
  NotAfter: EpochSeconds;
  Status: CertificateStatus;
  RevocationDate?: EpochSeconds;
  RevocationReason?: string;
}

export interface IssuedCertificate extends CertificateSummary {
  CaName: string;
  /** The leaf, PEM. */
  Certificate: string;
  /** The intermediate then the root, PEM. */
  CertificateChain: string;
}

interface Paged {
  Limit?: number;
  Marker?: string;
}
interface Page {
  NextMarker?: string;
  Truncated?: boolean;
}

/** Operation name → what it takes and what it answers. */
export interface HsmKmsOperations {
  GetCallerIdentity: { input: Record<string, never>; output: CallerIdentity };
  ListPrincipals: { input: Paged; output: Page & { Principals: PrincipalSummary[] } };
  GetPrincipal: { input: { UserName: string }; output: { Principal: PrincipalDetails } };
  CreatePrincipal: { input: { UserName: string; Roles: PrincipalRole[] }; output: { Arn: string; AccessKeyId: string; SecretAccessKey: string } };
  UpdatePrincipalRoles: { input: { UserName: string; Roles: PrincipalRole[] }; output: Record<string, never> };
  DeletePrincipal: { input: { UserName: string }; output: Record<string, never> };
  PutPrincipalPolicy: { input: { UserName: string; PolicyName: string; PolicyDocument: string }; output: Record<string, never> };
  DeletePrincipalPolicy: { input: { UserName: string; PolicyName: string }; output: Record<string, never> };
  CreateAccessKey: {
    input: { UserName: string };
    output: { AccessKey: { UserName: string; AccessKeyId: string; SecretAccessKey: string; Status: string; CreateDate: EpochSeconds } };
  };
  DeleteAccessKey: { input: { UserName: string; AccessKeyId: string }; output: Record<string, never> };
  ListApprovalRequests: { input: Paged & { Status?: ApprovalStatus }; output: Page & { ApprovalRequests: ApprovalRequest[] } };
  ApproveRequest: { input: { ApprovalRequestId: string }; output: { ApprovalRequest: ApprovalRequest } };
  RejectRequest: { input: { ApprovalRequestId: string }; output: { ApprovalRequest: ApprovalRequest } };
  LookupAuditEvents: {
    input: {
      StartTime?: EpochSeconds;
      EndTime?: EpochSeconds;
      LookupAttributes?: Array<{ AttributeKey: AuditLookupAttribute; AttributeValue: string }>;
      MaxResults?: number;
      NextToken?: string;
    };
    output: { Events: AuditEvent[]; NextToken?: string };
  };
  VerifyAuditTrail: { input: { From?: EpochSeconds; To?: EpochSeconds }; output: AuditVerification };
  ListCertificateAuthorities: { input: Record<string, never>; output: { CertificateAuthorities: CertificateAuthority[] } };
  ListCertificates: {
    input: Paged & { CaName: string; Status?: CertificateStatus };
    output: Page & { CaName: string; Certificates: CertificateSummary[]; AsOf?: EpochSeconds };
  };
  IssueCertificate: { input: { CaName: string; Csr: string; Profile?: CertificateProfile; ValidityDays?: number }; output: IssuedCertificate };
  RevokeCertificate: {
    input: { CaName: string; SerialNumber: string; RevocationReason?: RevocationReason };
    output: CertificateSummary & { CaName: string; CrlUpdated: boolean };
  };
  ExplainAuthorization: {
    input: {
      UserName?: string;
      PrincipalArn?: string;
      Action: string;
      KeyId?: string;
      EncryptionContext?: Record<string, string>;
      SourceIp?: string;
    };
    output: { Explanation: Explanation };
  };
}

export type HsmKmsOperation = keyof HsmKmsOperations;

/** What the console needs from a SHA-256 implementation (the KMS client's own). */
type Sha256Constructor = ConstructorParameters<typeof HsmKmsCaller>[0]['sha256'];

/** The console only ever talks to the origin it was loaded from (CSP connect-src 'self'). */
async function fetchTransport({ url, path, headers, body }: SignedRequest): Promise<{ status: number; text: string }> {
  // fetch sets Host itself (and refuses to be told); the signature covers the same value.
  const { host: _host, ...sent } = headers;
  const response = await fetch(new URL(path, url), {
    method: 'POST',
    headers: sent,
    body,
    credentials: 'omit',
    cache: 'no-store',
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, text: await response.text() };
}

export class HsmKmsApi {
  private readonly caller: HsmKmsCaller;

  constructor(options: { endpoint: string; region: string; credentials: HsmKmsCredentials; sha256: Sha256Constructor }) {
    this.caller = new HsmKmsCaller({ ...options, transport: fetchTransport });
  }

  async call<K extends HsmKmsOperation>(operation: K, input: HsmKmsOperations[K]['input']): Promise<HsmKmsOperations[K]['output']> {
    return (await this.caller.call(operation, input as Record<string, unknown>)) as HsmKmsOperations[K]['output'];
  }
}
