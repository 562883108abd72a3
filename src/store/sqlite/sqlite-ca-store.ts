/**
 * The CA store on SQLite: the shared SQL one, with the two reads every issuance makes (its CA,
 * and whether the issuing certificate is revoked) and its certificate insert as statements
 * compiled by Kysely and prepared once, run synchronously while the connection is idle — as the
 * metadata store's fast path does for keys (sqlite-store.ts). Building and preparing them per
 * call cost more than running them.
 *
 * Certificates are durable before anyone hears of them without an fsync on the event loop: the
 * insert commits through the store's group commit (group-commit.ts), as every write of the
 * metadata store does; those that arrive while a WAL sync runs are held until it ends and
 * committed together (one transaction for the group, answered no later than before). An issuance
 * over the API whose audit record carries the certificate skips that sync (`enableJournal`,
 * src/ca/certificate-journal.ts).
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Kysely, Selectable } from 'kysely';
import type { CaAuthorityRecord, IssuedCertificateRecord } from '../../ca/model.js';
import type { CaStore, CertificateJournal } from '../../ca/ports.js';
import { SqlCaStore, certificateToRow, rowToAuthority, rowToCertificate } from '../sql/ca-repository.js';
import type { CaAuthoritiesTable, CaCertificatesTable, CaDatabase } from '../sql/ca-schema.js';
import type { SqlFlavor } from '../sql/dialect.js';
import { remember } from './bounded-cache.js';
import type { WalGroupCommit } from './group-commit.js';

/** How often this process's audit position is marked (and the WAL synced) while journaled rows are new. */
const MARK_EVERY_MS = 1000;

interface Statements {
  authorityByName: Statement<[string], Selectable<CaAuthoritiesTable>>;
  certificateBySerial: Statement<[string, string], Selectable<CaCertificatesTable>>;
  /** One certificate row, its values in {@link certificateToRow}'s order. */
  insertCertificate: Statement<unknown[]>;
  /** Several, in one transaction (one commit). */
  insertCertificates: (certificates: IssuedCertificateRecord[]) => void;
  /** A journal's mark, moved forward only. */
  mark: Statement<[string, number]>;
}

export class SqliteCaStore extends SqlCaStore {
  private statements: Statements | undefined;

  /**
   * @param commitsChecked checks for commits by any connection, and by this one through Kysely
   *   (the metadata store's change token, sqlite-store.ts), and returns a count that changes
   *   whenever there were any: rows kept under one count are stale under another. `now` checks
   *   on every read; `inCall` once per API call (inside the metadata store's read scope).
   */
  constructor(
    private readonly kysely: Kysely<CaDatabase>,
    flavor: SqlFlavor,
    private readonly sqlite: Database,
    private readonly commits: WalGroupCommit,
    private readonly commitsChecked?: { now: () => number; inCall: () => number },
  ) {
    super(kysely, flavor);
  }

  private apiCallView: CaStore | undefined;

  /**
   * This store with its two cached reads checked once per API call (see the port): the same
   * object underneath — one connection, one WAL sync, one cache — seen through a Proxy that
   * replaces those two methods.
   */
  forApiCalls(): CaStore {
    if (!this.commitsChecked) return this;
    if (this.apiCallView) return this.apiCallView;
    const own: Partial<CaStore> = {
      getAuthority: (name) => this.readAuthority(name, 'inCall'),
      getCertificate: (caName, serial) => this.readCertificate(caName, serial, 'inCall'),
    };
    const bound = new Map<PropertyKey, unknown>();
    return (this.apiCallView = new Proxy(this, {
      get(target, property) {
        const replaced = own[property as keyof CaStore];
        if (replaced) return replaced;
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        let method = bound.get(property);
        if (!method) bound.set(property, (method = (value as (...args: unknown[]) => unknown).bind(target)));
        return method;
      },
    }));
  }

  /**
   * CA rows and certificate rows found by the two point reads every issuance makes (its CA, and
   * whether the issuing certificate is revoked), kept while no commit has happened since they
   * were read: any revocation, reissue or CA change — by this worker, another one or the CLI —
   * goes through a Kysely transaction or another connection, and empties them before the next
   * read. The certificates this store inserts itself (prepared statements, which the change
   * token does not see) only add rows, and only rows that were found are kept.
   */
  private readonly kept = { authorities: new Map<string, CaAuthorityRecord>(), certificates: new Map<string, IssuedCertificateRecord>() };
  private keptUnder = -1;

  /** The row caches, emptied first if anything was committed since they were filled. */
  private rowCaches(check: 'now' | 'inCall'): typeof this.kept | undefined {
    if (!this.commitsChecked) return undefined;
    const under = this.commitsChecked[check]();
    if (under !== this.keptUnder) {
      this.kept.authorities.clear();
      this.kept.certificates.clear();
      this.keptUnder = under;
    }
    return this.kept;
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
      mark: this.sqlite.prepare(
        'INSERT INTO ca_audit_marks (node_id, sequence) VALUES (?, ?) ON CONFLICT (node_id) DO UPDATE SET sequence = excluded.sequence WHERE sequence < excluded.sequence',
      ),
    });
  }

  journalMarks(): Promise<Map<string, number>> {
    return this.readJournalMarks();
  }

  restoreJournaled(certificates: IssuedCertificateRecord[], marks: ReadonlyMap<string, number>): Promise<number> {
    return this.restoreRows(certificates, marks);
  }

  private journalOn: CertificateJournal | undefined;

  /** Set by {@link enableJournal}: until then every certificate is inserted durably. */
  get journal(): CertificateJournal | undefined {
    return this.journalOn;
  }

  /**
   * Lets issuances be made durable by their audit records (src/ca/certificate-journal.ts). Call
   * once the rows a crash lost are restored, with the position of this process's audit chain:
   * its node and the last sequence it has numbered (every record up to it was queued after its
   * call's row was committed). While journaled rows are new, at most every second that position
   * is marked and the WAL synced in the background, so a restore reads about a second of
   * records; the mark reaches the disk only together with the rows committed before it.
   */
  enableJournal(position: () => { nodeId: string; sequence: number }): CertificateJournal {
    let timer: NodeJS.Timeout | undefined;
    const markSoon = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        if (!this.idle()) return markSoon();
        const { nodeId, sequence } = position();
        void this.commits
          .commit(() => this.prepared().mark.run(nodeId, sequence))
          // A failed sync is logged and refuses later writes (group-commit.ts); the mark is only a bound.
          .catch(() => {});
      }, MARK_EVERY_MS).unref();
    };
    // Certificates journaled in one event-loop turn share one commit (its locks, and the WAL
    // frames of the index pages they have in common): a commit per certificate cost more CPU than
    // the group commit's shared transaction and sync together.
    let turn: Array<{ certificate: IssuedCertificateRecord; resolve: () => void; reject: (error: unknown) => void }> | undefined;
    const commitTurn = () => {
      const batch = turn ?? [];
      turn = undefined;
      if (!this.idle()) {
        // In another holder's transaction: the ordinary (durable) insert queues behind it.
        for (const held of batch) this.insertCertificate(held.certificate).then(held.resolve, held.reject);
        return;
      }
      try {
        this.commitJournaled(batch.map((held) => held.certificate));
        for (const held of batch) held.resolve();
      } catch (error) {
        if (batch.length === 1) return batch[0]!.reject(error);
        // One row (a serial taken) fails the transaction: each on its own.
        for (const held of batch) {
          try {
            this.commitJournaled([held.certificate]);
            held.resolve();
          } catch (own) {
            held.reject(own);
          }
        }
      }
      markSoon();
    };
    return (this.journalOn = {
      insert: (certificate) =>
        new Promise<void>((resolve, reject) => {
          if (!turn) {
            turn = [];
            setImmediate(commitTurn);
          }
          turn.push({ certificate, resolve, reject });
        }),
    });
  }

  /** Commits the rows in one transaction at synchronous = NORMAL, without waiting for a sync. */
  private commitJournaled(certificates: IssuedCertificateRecord[]): void {
    this.commits.refuseIfFailed();
    const statements = this.prepared();
    this.commits.lower();
    try {
      if (certificates.length === 1) statements.insertCertificate.run(Object.values(certificateToRow(certificates[0]!)));
      else statements.insertCertificates(certificates);
    } catch (error) {
      throw this.insertError(error, certificates);
    } finally {
      this.commits.restore();
    }
  }

  /** While a transaction is open on the (single) connection, reads queue behind it through Kysely. */
  private idle(): boolean {
    return !this.sqlite.inTransaction && this.sqlite.open;
  }

  override getAuthority(name: string): Promise<CaAuthorityRecord | undefined> {
    return this.readAuthority(name, 'now');
  }

  private async readAuthority(name: string, check: 'now' | 'inCall'): Promise<CaAuthorityRecord | undefined> {
    if (!this.idle()) return super.getAuthority(name);
    const caches = this.rowCaches(check);
    let record = caches?.authorities.get(name);
    if (!record) {
      const row = this.prepared().authorityByName.get(name);
      if (!row) return undefined;
      record = rowToAuthority(row);
      if (caches) remember(caches.authorities, name, record, ROW_CACHE_ENTRIES);
    }
    return { ...record };
  }

  protected override writeCertificates(certificates: IssuedCertificateRecord[]): Promise<void> {
    const syncing = this.idle() ? this.commits.syncInProgress : undefined;
    return syncing ? this.holdUntil(syncing, certificates) : this.insertDurably(certificates);
  }

  private async insertDurably(certificates: IssuedCertificateRecord[]): Promise<void> {
    if (!this.idle()) return super.writeCertificates(certificates);
    const statements = this.prepared();
    const insert = () => {
      if (certificates.length === 1) statements.insertCertificate.run(Object.values(certificateToRow(certificates[0]!)));
      else statements.insertCertificates(certificates);
    };
    await this.commits.commit(insert);
  }

  /**
   * Certificates that arrive while a WAL sync is running, held until it ends and then committed
   * in one transaction. Committed now, they would wait for the sync after that one anyway (see
   * group-commit.ts): held, they are answered as soon, and a group's rows share one commit — its
   * locks, and the WAL frames of the index pages they have in common — instead of one each.
   */
  private held: Array<{ certificates: IssuedCertificateRecord[]; resolve: () => void; reject: (error: unknown) => void }> | undefined;

  private holdUntil(syncing: Promise<void>, certificates: IssuedCertificateRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.held) {
        this.held = [];
        const flush = () => void this.commitHeld();
        syncing.then(flush, flush);
      }
      this.held.push({ certificates, resolve, reject });
    });
  }

  private async commitHeld(): Promise<void> {
    const groups = this.held ?? [];
    this.held = undefined;
    try {
      await this.insertDurably(groups.flatMap((group) => group.certificates));
      for (const group of groups) group.resolve();
    } catch (error) {
      if (groups.length === 1) return groups[0]!.reject(error);
      // One group's rows (a serial taken, a CA gone) fail the transaction: each group on its own.
      for (const group of groups) await this.insertDurably(group.certificates).then(group.resolve, group.reject);
    }
  }

  override getCertificate(caName: string, serial: string): Promise<IssuedCertificateRecord | undefined> {
    return this.readCertificate(caName, serial, 'now');
  }

  private async readCertificate(caName: string, serial: string, check: 'now' | 'inCall'): Promise<IssuedCertificateRecord | undefined> {
    if (!this.idle()) return super.getCertificate(caName, serial);
    const caches = this.rowCaches(check);
    // Length-prefixed: the serial may be a caller's (OCSP), and ids must not collide.
    const id = `${caName.length}:${caName}${serial}`;
    let record = caches?.certificates.get(id);
    if (!record) {
      const row = this.prepared().certificateBySerial.get(caName, serial);
      if (!row) return undefined;
      record = rowToCertificate(row);
      if (caches) remember(caches.certificates, id, record, ROW_CACHE_ENTRIES);
    }
    return { ...record };
  }
}

/** Rows kept per cache: the CAs and issuing certificates in use, not every serial OCSP is asked about. */
const ROW_CACHE_ENTRIES = 1024;
