/**
 * What differs between SQL databases, as data. Everything else in `src/store/sql/` is written
 * once with Kysely's builders; a new database (PostgreSQL is next) supplies one of these.
 */
import type { ColumnDataType, Expression, RawBuilder } from 'kysely';

/** A column type Kysely's schema builder accepts: a name it knows, or raw SQL (`sql\`bytea\``). */
export type ColumnTypeExpression = ColumnDataType | Expression<unknown>;

export interface SqlFlavor {
  /** For logs and errors, e.g. `sqlite`. */
  readonly name: string;
  /** The column type for byte strings (`blob` in SQLite, `bytea` in PostgreSQL). */
  readonly binaryType: ColumnTypeExpression;
  /** The column type for millisecond timestamps and other 64-bit integers. */
  readonly bigintType: ColumnTypeExpression;
  /** True when `error` is the driver's primary-key / unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
  /**
   * True when a transaction must lock a row it reads before changing what it read
   * (`SELECT … FOR UPDATE` in PostgreSQL, whose READ COMMITTED transactions run side by side);
   * false where write transactions already run one at a time (SQLite's, begun IMMEDIATE).
   */
  readonly lockRowsForUpdate: boolean;
  /**
   * The expression that waits for and takes the named lock until the transaction ends
   * (`pg_advisory_xact_lock` in PostgreSQL); absent where write transactions already run one at
   * a time (SQLite's), so that holding a name would add nothing.
   */
  readonly transactionLock?: (name: string) => RawBuilder<unknown>;
}
