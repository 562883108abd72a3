/**
 * The ordered list of schema migrations, run by Kysely's `Migrator` at open. Names sort in
 * execution order; never rename or edit a released migration, add a new one.
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { SqlFlavor } from '../dialect.js';
import { initialSchema } from './0001-initial.js';
import { authorizationSchema } from './0002-authorization.js';
import { grantsAndQuorumSchema } from './0003-grants-and-quorum.js';
import { customKeyStoresSchema } from './0005-custom-key-stores.js';
import { certificateAuthoritySchema } from './0006-certificate-authority.js';
import { changeFeedSchema } from './0008-change-feed.js';
import { multiRegionSchema } from './0009-multi-region.js';
import { principalIdsAndApprovalVisibilitySchema } from './0011-principal-ids-and-approval-visibility.js';
import { replicationJobLeasesSchema } from './0012-replication-job-leases.js';
import { caAuditMarksSchema } from './0015-ca-audit-marks.js';
import { importedKeyMaterialsSchema } from './0016-imported-key-materials.js';
import { approvalRequestCoverageSchema } from './0020-approval-request-coverage.js';
import { pendingMaterialExpirySchema } from './0022-pending-material-expiry.js';
import { transportKeyRequestersSchema } from './0023-transport-key-requesters.js';
import { materialDestructionsSchema } from './0024-material-destructions.js';
import { certificatePartialIndexesSchema } from './0025-certificate-partial-indexes.js';

/** Every migration by name (tests build a previous version's database from the ones before a name). */
export function migrationsFor(flavor: SqlFlavor): Record<string, Migration> {
  return {
    '0001-initial': initialSchema(flavor),
    '0002-authorization': authorizationSchema(flavor),
    '0003-grants-and-quorum': grantsAndQuorumSchema(flavor),
    '0005-custom-key-stores': customKeyStoresSchema(flavor),
    '0006-certificate-authority': certificateAuthoritySchema(flavor),
    '0008-change-feed': changeFeedSchema(flavor),
    '0009-multi-region': multiRegionSchema(flavor),
    '0011-principal-ids-and-approval-visibility': principalIdsAndApprovalVisibilitySchema(flavor),
    '0012-replication-job-leases': replicationJobLeasesSchema(flavor),
    '0015-ca-audit-marks': caAuditMarksSchema(flavor),
    '0016-imported-key-materials': importedKeyMaterialsSchema(flavor),
    '0020-approval-request-coverage': approvalRequestCoverageSchema(),
    '0022-pending-material-expiry': pendingMaterialExpirySchema(),
    '0023-transport-key-requesters': transportKeyRequestersSchema(),
    '0024-material-destructions': materialDestructionsSchema(flavor),
    '0025-certificate-partial-indexes': certificatePartialIndexesSchema(),
  };
}

/**
 * Brings the database to the newest schema; throws (with the failing migration's name) if one
 * fails. `schema` names where the migration bookkeeping lives when it is not the default one.
 */
export async function migrateToLatest(db: Kysely<unknown>, flavor: SqlFlavor, schema?: string): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(flavor) };
  const migrator = new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    const where = failed ? ` in migration ${failed.migrationName}` : '';
    throw new Error(`${flavor.name} metadata store: schema migration failed${where}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
