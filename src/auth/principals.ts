/**
 * The account root's credentials. Principals, roles and access keys in general live in
 * `src/core/admin/principals.ts` (re-exported here for callers that import them from here).
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { ALL_ROLES, generateAccessKeyId, generateSecretAccessKey, rootArn } from '../core/admin/principals.js';
import type { KmsSettings } from '../core/operation.js';
import type { PrincipalRecord } from '../core/model.js';
import type { KeyBackend, MetadataStore } from '../core/ports.js';
import { StoreError } from '../core/store-error.js';
import { ConfigError } from '../config/hsm.js';

export {
  ALL_ROLES,
  createPrincipal,
  generateAccessKeyId,
  generateSecretAccessKey,
  rootArn,
  userArn,
} from '../core/admin/principals.js';

async function storeAccessKey(
  store: MetadataStore,
  backend: KeyBackend,
  principal: PrincipalRecord,
  insertPrincipal: boolean,
  accessKeyId: string,
  secretAccessKey: string,
): Promise<void> {
  // HSM step first: if sealing fails nothing has been written.
  const sealedSecret = await backend.sealSecret(Buffer.from(secretAccessKey, 'utf8'));
  await store.transaction(async (tx) => {
    if (insertPrincipal && !(await tx.getPrincipal(principal.arn))) await tx.insertPrincipal(principal);
    await tx.insertAccessKey({
      accessKeyId,
      principalArn: principal.arn,
      sealedSecret,
      createdAt: new Date(),
      status: 'Active',
    });
  });
}

/** Where the root credentials come from: the environment (passed in by the caller) or a file. */
export type RootCredentialSource = { accessKeyId?: string | undefined; secretAccessKey?: string | undefined } | { file: string };

interface RootFile {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Reads a root credentials file (refusing one that other users can read). */
export function readRootFile(file: string): RootFile {
  if ((statSync(file).mode & 0o077) !== 0)
    throw new ConfigError(`The root credentials file ${file} is readable by other users; run: chmod 600 ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ConfigError(`The root credentials file ${file} is not valid JSON; expected {"accessKeyId","secretAccessKey"}.`);
  }
  const { accessKeyId, secretAccessKey } = (parsed ?? {}) as Partial<RootFile>;
  if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string' || !accessKeyId || !secretAccessKey)
    throw new ConfigError(`The root credentials file ${file} must hold {"accessKeyId","secretAccessKey"}.`);
  return { accessKeyId, secretAccessKey };
}

/**
 * Makes sure the account root (`arn:aws:iam::<account>:root`, every role) can sign in.
 *
 * With explicit credentials (from HSMKMS_ROOT_ACCESS_KEY_ID / HSMKMS_ROOT_SECRET_ACCESS_KEY) the
 * key is registered on first use; a known key id with a different secret is refused rather
 * than silently replaced. With `{ file }`, the file is read if it exists, otherwise a new pair is
 * generated and written there (mode 0600) *before* it is stored, so a crash in between leaves a
 * file that the next start registers, never a stored key nobody knows.
 */
export async function ensureRootCredentials(
  store: MetadataStore,
  backend: KeyBackend,
  settings: KmsSettings,
  source: RootCredentialSource,
): Promise<{ accessKeyId: string; generated: boolean; file?: string }> {
  const principal: PrincipalRecord = {
    arn: rootArn(settings),
    name: 'root',
    accountId: settings.accountId,
    roles: [...ALL_ROLES],
    createdAt: new Date(),
  };

  let credentials: RootFile;
  let generated = false;
  let file: string | undefined;
  if ('file' in source) {
    file = source.file;
    if (existsSync(file)) {
      credentials = readRootFile(file);
    } else {
      credentials = { accessKeyId: generateAccessKeyId(), secretAccessKey: generateSecretAccessKey() };
      // 'wx': never overwrite a file another process has just written.
      writeFileSync(file, `${JSON.stringify(credentials)}\n`, { mode: 0o600, flag: 'wx' });
      generated = true;
    }
  } else {
    const { accessKeyId, secretAccessKey } = source;
    if (!accessKeyId || !secretAccessKey)
      throw new ConfigError('Set both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY, or neither.');
    if (!/^\w{16,128}$/.test(accessKeyId))
      throw new ConfigError('HSMKMS_ROOT_ACCESS_KEY_ID must be 16 to 128 letters, digits or underscores.');
    credentials = { accessKeyId, secretAccessKey };
  }

  let existing = await store.getAccessKey(credentials.accessKeyId);
  if (!existing) {
    try {
      await storeAccessKey(store, backend, principal, true, credentials.accessKeyId, credentials.secretAccessKey);
    } catch (error) {
      // Nodes sharing a store start together: another one registered it first. Check it as ours.
      if (!(error instanceof StoreError && error.kind === 'conflict')) throw error;
      existing = await store.getAccessKey(credentials.accessKeyId);
      if (!existing) throw error;
    }
  }
  if (existing) {
    if (existing.principalArn !== principal.arn)
      throw new ConfigError(`The root access key id ${credentials.accessKeyId} already belongs to ${existing.principalArn}.`);
    const stored = await backend.unsealSecret(existing.sealedSecret);
    const given = Buffer.from(credentials.secretAccessKey, 'utf8');
    const same = stored.length === given.length && timingSafeEqual(stored, given);
    stored.fill(0);
    if (!same)
      throw new ConfigError(
        `The root access key id ${credentials.accessKeyId} is already registered with a different secret; choose a new access key id to change the secret.`,
      );
    if (!(await store.getPrincipal(principal.arn))) await store.insertPrincipal(principal);
  }
  return file === undefined ? { accessKeyId: credentials.accessKeyId, generated } : { accessKeyId: credentials.accessKeyId, generated, file };
}
