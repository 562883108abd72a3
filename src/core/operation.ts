/**
 * The shape every KMS operation shares: parse and validate the JSON input with AWS's wording,
 * resolve the key and check its state, authorise, act, return the JSON output.
 */
import type { PrincipalRecord } from './model.js';
import type { AuditSink, Authorizer, Clock, KeyBackend, MetadataStore } from './ports.js';
import type { KeyStoreConnections } from './key-stores/connections.js';

/** Service-wide settings the core needs. */
export interface KmsSettings {
  accountId: string;
  region: string;
  /** `aws` unless configured otherwise. */
  partition: string;
}

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
}

/** Who is calling and which request this is. */
export interface RequestContext {
  requestId: string;
  principal: PrincipalRecord;
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
}

/** JSON as it arrives (already parsed) and leaves (blobs base64, timestamps epoch seconds). */
export type JsonObject = Record<string, unknown>;

export interface Operation {
  /** The wire name, `TrentService.<name>`. */
  readonly name: string;
  run(deps: KmsDeps, ctx: RequestContext, input: JsonObject): Promise<JsonObject>;
}
