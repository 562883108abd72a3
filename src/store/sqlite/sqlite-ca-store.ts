/**
 * The CA store on SQLite: the shared SQL one, with the two reads every issuance makes (its CA,
 * and whether the issuing certificate is revoked) and its certificate insert as statements
 * compiled by Kysely and prepared once, run synchronously while the connection is idle — as the
 * metadata store's fast path does for keys (sqlite-store.ts). Building and preparing them per
 * call cost more than running them.
 *
 * Certificates are durable before anyone hears of them without an fsync on the event loop: the
 * insert commits through the store's group commit (group-commit.ts), as every write of the
 * metadata store does.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Kysely, Selectable } from 'kysely';
import type { CaAuthorityRecord, IssuedCertificateRecord } from '../../ca/model.js';
import { SqlCaStore, certificateToRow, rowToAuthority, rowToCertificate } from '../sql/ca-repository.js';
import type { CaAuthoritiesTable, CaCertificatesTable, CaDatabase } from '../sql/ca-schema.js';
import type { SqlFlavor } from '../sql/dialect.js';
import type { WalGroupCommit } from './group-commit.js';

interface Statements {
  authorityByName: Statement<[string], Selectable<CaAuthoritiesTable>>;
  certificateBySerial: Statement<[string, string], Selectable<CaCertificatesTable>>;
  /** One certificate row, its values in {@link certificateToRow}'s order. */
  insertCertificate: Statement<unknown[]>;
  /** Several, in one transaction (one commit). */
  insertCertificates: (certificates: IssuedCertificateRecord[]) => void;
}

export class SqliteCaStore extends SqlCaStore {
  private statements: Statements | undefined;

  constructor(
    private readonly kysely: Kysely<CaDatabase>,
    flavor: SqlFlavor,
    private readonly sqlite: Database,
    private readonly commits: WalGroupCommit,
  ) {
    super(kysely, flavor);
  }

  /** Prepared on first use: the CA's tables exist once the store's migrations have run. */
  private prepared(): Statements {
    if (this.statements) return this.statements;
    const sample = certificateToRow({ caName: '', serial: '', issuer: 'intermediate', kind: 'tls-server', subject: '', notBefore: new Date(0), notAfter: new Date(0), issuedAt: new Date(0), certificate: new Uint8Array(0) });
    const insertCertificate = this.sqlite.prepare<unknown[]>(this.kysely.insertInto('ca_certificates').values(sample).compile().sql);
    return (this.statements = {
      authorityByName: this.sqlite.prepare(this.kysely.selectFrom('ca_authorities').selectAll().where('name', '=', '').compile().sql),
      certificateBySerial: this.sqlite.prepare(
        this.kysely.selectFrom('ca_certificates').selectAll().where('ca_name', '=', '').where('serial', '=', '').compile().sql,
      ),
      insertCertificate,
      insertCertificates: this.sqlite
        .transaction((certificates: IssuedCertificateRecord[]) => {
          for (const certificate of certificates) insertCertificate.run(Object.values(certificateToRow(certificate)));
        })
        .immediate,
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

  protected override async writeCertificates(certificates: IssuedCertificateRecord[]): Promise<void> {
    if (!this.idle()) return super.writeCertificates(certificates);
    const statements = this.prepared();
    const insert = () => {
      if (certificates.length === 1) statements.insertCertificate.run(Object.values(certificateToRow(certificates[0]!)));
      else statements.insertCertificates(certificates);
    };
    await this.commits.commit(insert);
  }

  override async getCertificate(caName: string, serial: string): Promise<IssuedCertificateRecord | undefined> {
    if (!this.idle()) return super.getCertificate(caName, serial);
    const row = this.prepared().certificateBySerial.get(caName, serial);
    return row && rowToCertificate(row);
  }
}
