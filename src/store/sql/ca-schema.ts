/** The CA's tables as Kysely sees them (conventions as in schema.ts: millisecond integers, blobs). */
import type { Binary, Int, Millis, NullableInt, NullableMillis } from './schema.js';

export interface CaAuthoritiesTable {
  name: string;
  created_at: Millis;
  key_spec: string;
  base_url: string;
  root_key_id: string;
  intermediate_key_id: string;
  ocsp_key_id: string;
  root_certificate: Binary;
  intermediate_certificate: Binary;
}

export interface CaCertificatesTable {
  ca_name: string;
  serial: string;
  issuer: string;
  kind: string;
  subject: string;
  not_before: Millis;
  not_after: Millis;
  issued_at: Millis;
  certificate: Binary;
  revoked_at: NullableMillis;
  revocation_reason: string | null;
}

export interface CaCrlsTable {
  ca_name: string;
  issuer: string;
  last_crl_number: Int;
  revocation_epoch: Int;
  crl_number: NullableInt;
  crl_epoch: NullableInt;
  this_update: NullableMillis;
  next_update: NullableMillis;
  crl: Binary | null;
}

export interface CaAuditMarksTable {
  node_id: string;
  sequence: Int;
}

export interface CaDatabase {
  ca_authorities: CaAuthoritiesTable;
  ca_certificates: CaCertificatesTable;
  ca_crls: CaCrlsTable;
  ca_audit_marks: CaAuditMarksTable;
}
