/**
 * The shape every KMS operation shares: parse and validate the JSON input with AWS's wording,
 * resolve the key and check its state, authorise, act, return the JSON output.
 */
import type { PrincipalRecord } from './model.js';
import type { AuditActor, AuditSink, Authorizer, Clock, KeyBackend, Logger, MetadataStore } from './ports.js';
import type { KeyStoreConnections } from './key-stores/connections.js';
import type { InProcessCall } from './in-process-calls.js';
import type { CertificateAuthorityPort } from './certificates/port.js';
import type { AuditReader } from './audit-reading/port.js';
import type { RegionPeers } from './multi-region/ports.js';

/** Service-wide settings the core needs. */
export interface KmsSettings {
  accountId: string;
  region: string;
  /** `aws` unless configured otherwise. */
  partition: string;
  /** How long a quorum approval request stays open (default 3600 s); see src/core/quorum/. */
  approvalRequestTtlSeconds?: number | undefined;
  /**
   * The first retry delay of multi-Region replication jobs (default 30 s, doubling to an hour);
   * `serve` makes it the scheduler interval when that is shorter.
   */
  replicationRetryMs?: number | undefined;
  /** The most ECC_NIST_EDWARDS25519 keys (token objects) the deployment holds: {@link DEFAULT_MAX_ED25519_KEYS} unless set. */
  maxEd25519Keys?: number | undefined;
}

/**
 * How many ECC_NIST_EDWARDS25519 keys a deployment holds at most unless configured
 * (`--max-ed25519-keys`): each is an object of its own in the HSM (operations/create-key.ts),
 * whose storage is finite and shared with everything else the token holds, and which SoftHSM2
 * searches one object at a time.
 */
export const DEFAULT_MAX_ED25519_KEYS = 10_000;

/** Everything an operation may use. Built once by the composition root. */
export interface KmsDeps {
  store: MetadataStore;
  backend: KeyBackend;
  clock: Clock;
  audit: AuditSink;
  authorizer: Authorizer;
  settings: KmsSettings;
  /** Custom key stores' connections (absent: custom key store operations are unsupported). */
  keyStores?: KeyStoreConnections | undefined;
  /** The private CA behind `HsmKms.*Certificate*` (absent: those operations are unsupported). */
  certificateAuthority?: CertificateAuthorityPort | undefined;
  /** The audit trail, read back (absent: the trail is off, and reading it is unsupported). */
  auditReader?: AuditReader | undefined;
  /** Other regions' deployments (absent: ReplicateKey and UpdatePrimaryRegion are unsupported). */
  regionPeers?: RegionPeers | undefined;
  /** For work a request starts and the service finishes (multi-Region transfers); silent when absent. */
  logger?: Logger | undefined;
}

/** Who is calling and which request this is. */
export interface RequestContext {
  requestId: string;
  principal: PrincipalRecord;
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
  /** The access key that signed the request (checked again, fresh, by the authorizer). */
  accessKeyId?: string | undefined;
  /** Whether the request arrived over TLS (`aws:SecureTransport`). */
  secureTransport?: boolean | undefined;
  /** Set only for calls this process makes to itself (the in-process CA): see in-process-calls.ts. */
  inProcess?: InProcessCall | undefined;
  /** Who acted when it was not an API caller (an offline CLI command): recorded in the audit trail. */
  actor?: AuditActor | undefined;
  /** When the caller stops waiting (epoch ms; see core/deadline.ts). */
  deadline?: number | undefined;
  /**
   * Adds fields to this call's audit record (`additionalEventData`), for what the call did that
   * its parameters do not say (which key signed, with which algorithm). Set by the dispatcher.
   */
  note?: ((fields: Record<string, unknown>) => void) | undefined;
}

/** JSON as it arrives (already parsed) and leaves (blobs base64, timestamps epoch seconds). */
export type JsonObject = Record<string, unknown>;

/**
 * The `X-Amz-Target` namespaces served: AWS KMS's own (`TrentService.Encrypt`) and hsmkms's
 * administration API (`HsmKms.CreatePrincipal`), both awsJson1_1 with SigV4 for service `kms`.
 */
export const OPERATION_NAMESPACES = ['TrentService', 'HsmKms'] as const;
export type OperationNamespace = (typeof OPERATION_NAMESPACES)[number];

export interface Operation {
  /** The wire name: `<namespace>.<name>` is the X-Amz-Target. */
  readonly name: string;
  /** `TrentService` when absent. */
  readonly namespace?: OperationNamespace;
  run(deps: KmsDeps, ctx: RequestContext, input: JsonObject): Promise<JsonObject>;
}
