/**
 * The CA store on SQLite: the shared SQL one, with the two reads every issuance makes (its CA,
 * and whether the issuing certificate is revoked) as statements compiled by Kysely and prepared
 * once, run synchronously while the connection is idle — as the metadata store's fast path
 * does for keys (sqlite-store.ts). Building and preparing them per call cost more than running them.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Kysely, Selectable } from 'kysely';
import type { CaAuthorityRecord, IssuedCertificateRecord } from '../../ca/model.js';
import { SqlCaStore, rowToAuthority, rowToCertificate } from '../sql/ca-repository.js';
import type { CaAuthoritiesTable, CaCertificatesTable, CaDatabase } from '../sql/ca-schema.js';
import type { SqlFlavor } from '../sql/dialect.js';

interface Statements {
  authorityByName: Statement<[string], Selectable<CaAuthoritiesTable>>;
  certificateBySerial: Statement<[string, string], Selectable<CaCertificatesTable>>;
}

export class SqliteCaStore extends SqlCaStore {
  private statements: Statements | undefined;

  constructor(
    private readonly kysely: Kysely<CaDatabase>,
    flavor: SqlFlavor,
    private readonly sqlite: Database,
  ) {
    super(kysely, flavor);
  }

  /** Prepared on first use: the CA's tables exist once the store's migrations have run. */
  private prepared(): Statements {
    return (this.statements ??= {
      authorityByName: this.sqlite.prepare(this.kysely.selectFrom('ca_authorities').selectAll().where('name', '=', '').compile().sql),
      certificateBySerial: this.sqlite.prepare(
        this.kysely.selectFrom('ca_certificates').selectAll().where('ca_name', '=', '').where('serial', '=', '').compile().sql,
      ),
    });
  }

  /** While a transaction is open on the (single) connection, reads queue behind it through Kysely. */
  private idle(): boolean {
    return !this.sqlite.inTransaction && this.sqlite.open;
  }

  override async getAuthority(name: string): Promise<CaAuthorityRecord | undefined> {
    if (!this.idle()) return super.getAuthority(name);
    const row = this.prepared().authorityByName.get(name);
    return row && rowToAuthority(row);
  }

  override async getCertificate(caName: string, serial: string): Promise<IssuedCertificateRecord | undefined> {
    if (!this.idle()) return super.getCertificate(caName, serial);
    const row = this.prepared().certificateBySerial.get(caName, serial);
    return row && rowToCertificate(row);
  }
}
