/**
 * {@link CaStore} over Kysely, for every SQL database the metadata store runs on. It shares
 * the metadata store's connection (see `SqlMetadataStore.certificateAuthorityStore`), so on
 * SQLite it queues behind the same single writer and on PostgreSQL it uses the same pool.
 */
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type {
  CaAuthorityRecord,
  CaKeySpec,
  CrlState,
  IssuedCertificateRecord,
  IssuedKind,
  IssuerTier,
  RevocationReason,
  RevokedEntry,
  StoredCrl,
} from '../../ca/model.js';
import type { CaStore, RevokeOutcome } from '../../ca/ports.js';
import type { CertificateListPosition } from '../../core/list-marker.js';
import type { Page } from '../../core/ports.js';
import { StoreError } from '../../core/store-error.js';
import type { CaAuthoritiesTable, CaCertificatesTable, CaDatabase } from './ca-schema.js';
import type { SqlFlavor } from './dialect.js';
import { RESPONDER_KIND } from './migrations/0025-certificate-partial-indexes.js';

type Db = Kysely<CaDatabase>;

const TIERS: readonly IssuerTier[] = ['root', 'intermediate'];
/** Most certificate rows written by one statement. */
const MAX_INSERT_BATCH = 500;

export class SqlCaStore implements CaStore {
  constructor(
    private readonly db: Db,
    private readonly flavor: SqlFlavor,
  ) {}

  async insertAuthority(authority: CaAuthorityRecord, intermediate: IssuedCertificateRecord): Promise<void> {
    try {
      await this.atomically(async (db) => {
        await db.insertInto('ca_authorities').values(authorityToRow(authority)).execute();
        await db.insertInto('ca_certificates').values(certificateToRow(intermediate)).execute();
        await db
          .insertInto('ca_crls')
          .values(TIERS.map((issuer) => ({ ca_name: authority.name, issuer, last_crl_number: 0, revocation_epoch: 0 })))
          .execute();
      });
    } catch (error) {
      if (this.flavor.isUniqueViolation(error)) throw new StoreError('conflict', 'certificate-authority', authority.name, { cause: error });
      throw error;
    }
  }

  async getAuthority(name: string): Promise<CaAuthorityRecord | undefined> {
    const row = await this.db.selectFrom('ca_authorities').selectAll().where('name', '=', name).executeTakeFirst();
    return row && rowToAuthority(row);
  }

  async listAuthorities(): Promise<CaAuthorityRecord[]> {
    const rows = await this.db.selectFrom('ca_authorities').selectAll().orderBy('name').limit(1000).execute();
    return rows.map(rowToAuthority);
  }

  /**
   * Certificates issued in the same event-loop turn are committed together, in one statement:
   * each commit is a disk flush (SQLite with synchronous=FULL flushes on the event loop), and
   * one per certificate was the largest cost of issuing under load. Each caller still hears
   * only once its row is committed.
   */
  insertCertificate(certificate: IssuedCertificateRecord): Promise<void> {
    if (this.db.isTransaction) return this.insertCertificates([certificate]);
    return new Promise((resolve, reject) => {
      if (!this.pendingInserts) {
        this.pendingInserts = [];
        setImmediate(() => void this.flushInserts());
      }
      this.pendingInserts.push({ certificate, resolve, reject });
    });
  }

  private pendingInserts: Array<{ certificate: IssuedCertificateRecord; resolve: () => void; reject: (error: unknown) => void }> | undefined;

  private async flushInserts(): Promise<void> {
    const pending = this.pendingInserts ?? [];
    // Bounded (PostgreSQL takes at most 65,535 parameters in a statement): the rest go next turn.
    const batch = pending.splice(0, MAX_INSERT_BATCH);
    if (pending.length > 0) setImmediate(() => void this.flushInserts());
    else this.pendingInserts = undefined;
    try {
      await this.insertCertificates(batch.map((b) => b.certificate));
      for (const b of batch) b.resolve();
    } catch (error) {
      if (batch.length === 1 || !(error instanceof StoreError)) {
        for (const b of batch) b.reject(error);
        return;
      }
      // A serial taken already (or a CA gone) fails the whole statement: find whose, one by one.
      for (const b of batch) await this.insertCertificates([b.certificate]).then(b.resolve, b.reject);
    }
  }

  private async insertCertificates(certificates: IssuedCertificateRecord[]): Promise<void> {
    try {
      await this.writeCertificates(certificates);
    } catch (error) {
      throw this.insertError(error, certificates);
    }
  }

  /** What inserting `certificates` threw, a serial taken already as StoreError `conflict`. */
  protected insertError(error: unknown, certificates: IssuedCertificateRecord[]): unknown {
    if (!this.flavor.isUniqueViolation(error)) return error;
    const which = certificates.length === 1 ? `${certificates[0]!.caName}/${certificates[0]!.serial}` : `${certificates.length} certificates`;
    return new StoreError('conflict', 'certificate', which, { cause: error });
  }

  /** Inserts the rows in one statement (one commit); the SQLite store runs a prepared one instead. */
  protected async writeCertificates(certificates: IssuedCertificateRecord[]): Promise<void> {
    await this.db.insertInto('ca_certificates').values(certificates.map(certificateToRow)).execute();
  }

  async getCertificate(caName: string, serial: string): Promise<IssuedCertificateRecord | undefined> {
    const row = await this.db.selectFrom('ca_certificates').selectAll().where('ca_name', '=', caName).where('serial', '=', serial).executeTakeFirst();
    return row && rowToCertificate(row);
  }

  async listCertificates(caName: string, options: { limit: number; after?: CertificateListPosition | undefined }): Promise<Page<IssuedCertificateRecord>> {
    const limit = Math.min(Math.max(Math.floor(options.limit) || 1, 1), 1000);
    let query = this.db.selectFrom('ca_certificates').selectAll().where('ca_name', '=', caName);
    const after = options.after;
    if (after !== undefined) {
      const issuedAt = after.issuedAt.getTime();
      query = query.where((eb) => eb.or([eb('issued_at', '>', issuedAt), eb.and([eb('issued_at', '=', issuedAt), eb('serial', '>', after.serial)])]));
    }
    const rows = await query.orderBy('issued_at').orderBy('serial').limit(limit + 1).execute();
    return { items: rows.slice(0, limit).map(rowToCertificate), more: rows.length > limit };
  }

  async currentResponder(caName: string, issuer: IssuerTier): Promise<IssuedCertificateRecord | undefined> {
    const row = await this.db
      .selectFrom('ca_certificates')
      .selectAll()
      .where('ca_name', '=', caName)
      // A literal, as in the partial index this read uses (its condition, 0025-certificate-partial-indexes.ts).
      .where('kind', '=', sql.lit(RESPONDER_KIND))
      .where('issuer', '=', issuer)
      .where('revoked_at', 'is', null)
      .orderBy('not_after', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && rowToCertificate(row);
  }

  async revokeCertificate(caName: string, serial: string, at: Date, reason: RevocationReason): Promise<RevokeOutcome> {
    return this.atomically(async (db) => {
      const row = await db.selectFrom('ca_certificates').selectAll().where('ca_name', '=', caName).where('serial', '=', serial).executeTakeFirst();
      if (!row) return { outcome: 'not-found' } as const;
      const certificate = rowToCertificate(row);
      if (certificate.revokedAt) return { outcome: 'already-revoked', certificate } as const;
      const updated = await db
        .updateTable('ca_certificates')
        .set({ revoked_at: at.getTime(), revocation_reason: reason })
        .where('ca_name', '=', caName)
        .where('serial', '=', serial)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      // Another transaction got there first (PostgreSQL, READ COMMITTED).
      if (Number(updated.numUpdatedRows) !== 1) {
        const now = await db.selectFrom('ca_certificates').selectAll().where('ca_name', '=', caName).where('serial', '=', serial).executeTakeFirstOrThrow();
        return { outcome: 'already-revoked', certificate: rowToCertificate(now) } as const;
      }
      await db
        .updateTable('ca_crls')
        .set({ revocation_epoch: sql<number>`revocation_epoch + 1` })
        .where('ca_name', '=', caName)
        .where('issuer', '=', certificate.issuer)
        .execute();
      return { outcome: 'revoked', certificate: { ...certificate, revokedAt: at, revocationReason: reason } } as const;
    });
  }

  async replaceIntermediate(caName: string, previous: Uint8Array, intermediate: IssuedCertificateRecord): Promise<void> {
    await this.atomically(async (db) => {
      const updated = await db
        .updateTable('ca_authorities')
        .set({ intermediate_certificate: intermediate.certificate })
        .where('name', '=', caName)
        .where('intermediate_certificate', '=', previous)
        .executeTakeFirst();
      // Renamed, deleted, or re-issued by another call since `previous` was read.
      if (Number(updated.numUpdatedRows) !== 1) throw new StoreError('not-found', 'certificate-authority', caName);
      try {
        await db.insertInto('ca_certificates').values(certificateToRow(intermediate)).execute();
      } catch (error) {
        if (this.flavor.isUniqueViolation(error)) throw new StoreError('conflict', 'certificate', `${caName}/${intermediate.serial}`, { cause: error });
        throw error;
      }
    });
  }

  async crlState(caName: string, issuer: IssuerTier): Promise<CrlState> {
    const row = await this.db.selectFrom('ca_crls').selectAll().where('ca_name', '=', caName).where('issuer', '=', issuer).executeTakeFirst();
    if (!row) return { revocationEpoch: 0 };
    const current: StoredCrl | undefined =
      row.crl && row.crl_number !== null && row.crl_epoch !== null && row.this_update !== null && row.next_update !== null
        ? {
            crlNumber: Number(row.crl_number),
            epoch: Number(row.crl_epoch),
            thisUpdate: new Date(Number(row.this_update)),
            nextUpdate: new Date(Number(row.next_update)),
            crl: row.crl,
          }
        : undefined;
    return { revocationEpoch: Number(row.revocation_epoch), current };
  }

  async beginCrl(caName: string, issuer: IssuerTier): Promise<{ crlNumber: number; epoch: number; revoked: RevokedEntry[] }> {
    return this.atomically(async (db) => {
      // Epoch first, then the list: a revocation committed in between makes the list newer
      // than its epoch (so the CRL is re-signed once more), never older.
      const state = await db
        .selectFrom('ca_crls')
        .select(['last_crl_number', 'revocation_epoch'])
        .where('ca_name', '=', caName)
        .where('issuer', '=', issuer)
        .executeTakeFirst();
      if (!state) throw new StoreError('not-found', 'certificate-authority', caName);
      const rows = await db
        .selectFrom('ca_certificates')
        .select(['serial', 'revoked_at', 'revocation_reason'])
        .where('ca_name', '=', caName)
        .where('issuer', '=', issuer)
        .where('revoked_at', 'is not', null)
        .orderBy('revoked_at')
        .orderBy('serial')
        .execute();
      // An atomic increment: concurrent signers (several workers or nodes) get distinct numbers.
      await db
        .updateTable('ca_crls')
        .set({ last_crl_number: sql<number>`last_crl_number + 1` })
        .where('ca_name', '=', caName)
        .where('issuer', '=', issuer)
        .execute();
      const after = await db
        .selectFrom('ca_crls')
        .select('last_crl_number')
        .where('ca_name', '=', caName)
        .where('issuer', '=', issuer)
        .executeTakeFirstOrThrow();
      return {
        crlNumber: Number(after.last_crl_number),
        epoch: Number(state.revocation_epoch),
        revoked: rows.map((r) => ({
          serial: r.serial,
          revokedAt: new Date(Number(r.revoked_at)),
          reason: (r.revocation_reason ?? 'unspecified') as RevocationReason,
        })),
      };
    });
  }

  async saveCrl(caName: string, issuer: IssuerTier, crl: StoredCrl): Promise<void> {
    await this.db
      .updateTable('ca_crls')
      .set({
        crl_number: crl.crlNumber,
        crl_epoch: crl.epoch,
        this_update: crl.thisUpdate.getTime(),
        next_update: crl.nextUpdate.getTime(),
        crl: crl.crl,
      })
      .where('ca_name', '=', caName)
      .where('issuer', '=', issuer)
      .where((eb) => eb.or([eb('crl_number', 'is', null), eb('crl_number', '<', crl.crlNumber)]))
      .execute();
  }

  /** Each journal's mark (ca_audit_marks), for a store that journals (sqlite-ca-store.ts). */
  protected async readJournalMarks(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('ca_audit_marks').selectAll().execute();
    return new Map(rows.map((row) => [row.node_id, Number(row.sequence)]));
  }

  /**
   * `CaStore.restoreJournaled`, in one transaction: rows the store lacks (of CAs it has; a
   * row present, revoked or not, is left as it is), then marks that move forward only.
   */
  protected async restoreRows(certificates: IssuedCertificateRecord[], marks: ReadonlyMap<string, number>): Promise<number> {
    return this.atomically(async (db) => {
      let restored = 0;
      const authorities = new Set((await db.selectFrom('ca_authorities').select('name').execute()).map((row) => row.name));
      for (const certificate of certificates) {
        if (!authorities.has(certificate.caName)) continue;
        const result = await db
          .insertInto('ca_certificates')
          .values(certificateToRow(certificate))
          .onConflict((conflict) => conflict.columns(['ca_name', 'serial']).doNothing())
          .executeTakeFirst();
        restored += Number(result.numInsertedOrUpdatedRows ?? 0);
      }
      for (const [nodeId, sequence] of marks) {
        await db
          .insertInto('ca_audit_marks')
          .values({ node_id: nodeId, sequence })
          .onConflict((conflict) => conflict.column('node_id').doUpdateSet({ sequence: (eb) => eb.ref('excluded.sequence') }).where('ca_audit_marks.sequence', '<', sequence))
          .execute();
      }
      return restored;
    });
  }

  private async atomically<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.db.isTransaction ? fn(this.db) : this.db.transaction().execute(fn);
  }
}

function authorityToRow(a: CaAuthorityRecord): Insertable<CaAuthoritiesTable> {
  return {
    name: a.name,
    created_at: a.createdAt.getTime(),
    key_spec: a.keySpec,
    base_url: a.baseUrl,
    root_key_id: a.rootKeyId,
    intermediate_key_id: a.intermediateKeyId,
    ocsp_key_id: a.ocspKeyId,
    root_certificate: a.rootCertificate,
    intermediate_certificate: a.intermediateCertificate,
  };
}

export function rowToAuthority(row: Selectable<CaAuthoritiesTable>): CaAuthorityRecord {
  return {
    name: row.name,
    createdAt: new Date(Number(row.created_at)),
    keySpec: row.key_spec as CaKeySpec,
    baseUrl: row.base_url,
    rootKeyId: row.root_key_id,
    intermediateKeyId: row.intermediate_key_id,
    ocspKeyId: row.ocsp_key_id,
    rootCertificate: new Uint8Array(row.root_certificate),
    intermediateCertificate: new Uint8Array(row.intermediate_certificate),
  };
}

export function certificateToRow(c: IssuedCertificateRecord): Insertable<CaCertificatesTable> {
  return {
    ca_name: c.caName,
    serial: c.serial,
    issuer: c.issuer,
    kind: c.kind,
    subject: c.subject,
    not_before: c.notBefore.getTime(),
    not_after: c.notAfter.getTime(),
    issued_at: c.issuedAt.getTime(),
    certificate: c.certificate,
    revoked_at: c.revokedAt ? c.revokedAt.getTime() : null,
    revocation_reason: c.revocationReason ?? null,
  };
}

export function rowToCertificate(row: Selectable<CaCertificatesTable>): IssuedCertificateRecord {
  return {
    caName: row.ca_name,
    serial: row.serial,
    issuer: row.issuer as IssuerTier,
    kind: row.kind as IssuedKind,
    subject: row.subject,
    notBefore: new Date(Number(row.not_before)),
    notAfter: new Date(Number(row.not_after)),
    issuedAt: new Date(Number(row.issued_at)),
    certificate: new Uint8Array(row.certificate),
    ...(row.revoked_at !== null ? { revokedAt: new Date(Number(row.revoked_at)), revocationReason: (row.revocation_reason ?? 'unspecified') as RevocationReason } : {}),
  };
}
