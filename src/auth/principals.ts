/**
 * Principals (IAM-style users) and their access keys. A secret access key is shown once, when
 * it is created, and stored only sealed by the HSM.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { KmsError } from '../core/errors.js';
import type { KmsSettings } from '../core/operation.js';
import type { PrincipalRecord, PrincipalRole } from '../core/model.js';
import type { KeyBackend, MetadataStore } from '../core/ports.js';

/** Every role: what the account root holds. */
export const ALL_ROLES: readonly PrincipalRole[] = ['CryptoOfficer', 'CryptoUser', 'Auditor'];

/** IAM's user-name rule. */
const USER_NAME = /^[\w+=,.@-]{1,64}$/;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `AKIA` followed by 16 base-32 characters, the shape of an AWS long-term access key id. */
export function generateAccessKeyId(): string {
  const bytes = randomBytes(16);
  let id = 'AKIA';
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

/** 40 characters of base64, like an AWS secret access key (240 random bits). */
export function generateSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** `arn:aws:iam::<account>:user/<name>` */
export function userArn(settings: KmsSettings, name: string): string {
  return `arn:${settings.partition}:iam::${settings.accountId}:user/${name}`;
}

/** `arn:aws:iam::<account>:root` */
export function rootArn(settings: KmsSettings): string {
  return `arn:${settings.partition}:iam::${settings.accountId}:root`;
}

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

/**
 * Creates a principal named `name` with one access key. Throws ValidationException for a name
 * IAM would refuse and AlreadyExistsException for a name that is taken.
 */
export async function createPrincipal(
  store: MetadataStore,
  backend: KeyBackend,
  settings: KmsSettings,
  name: string,
  roles: PrincipalRole[] = ['CryptoUser'],
): Promise<{ arn: string; accessKeyId: string; secretAccessKey: string }> {
  if (!USER_NAME.test(name))
    throw new KmsError(
      'ValidationException',
      `Invalid principal name '${name.slice(0, 80)}': use 1 to 64 letters, digits or the characters + = , . @ _ -`,
    );
  const unknownRole = roles.find((role) => !ALL_ROLES.includes(role));
  if (unknownRole !== undefined)
    throw new KmsError('ValidationException', `Unknown role '${String(unknownRole)}': use one of ${ALL_ROLES.join(', ')}.`);
  const arn = userArn(settings, name);
  if (await store.getPrincipal(arn)) throw new KmsError('AlreadyExistsException', `A principal named '${name}' already exists (${arn}).`);
  const principal: PrincipalRecord = {
    arn,
    name,
    accountId: settings.accountId,
    roles: [...new Set(roles)],
    createdAt: new Date(),
  };
  const accessKeyId = generateAccessKeyId();
  const secretAccessKey = generateSecretAccessKey();
  const sealedSecret = await backend.sealSecret(Buffer.from(secretAccessKey, 'utf8'));
  await store.transaction(async (tx) => {
    // Checked again inside the transaction: another process may have created it meanwhile.
    if (await tx.getPrincipal(arn)) throw new KmsError('AlreadyExistsException', `A principal named '${name}' already exists (${arn}).`);
    await tx.insertPrincipal(principal);
    await tx.insertAccessKey({ accessKeyId, principalArn: arn, sealedSecret, createdAt: principal.createdAt, status: 'Active' });
  });
  return { arn, accessKeyId, secretAccessKey };
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
    throw new Error(`The root credentials file ${file} is readable by other users; run: chmod 600 ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`The root credentials file ${file} is not valid JSON; expected {"accessKeyId","secretAccessKey"}.`);
  }
  const { accessKeyId, secretAccessKey } = (parsed ?? {}) as Partial<RootFile>;
  if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string' || !accessKeyId || !secretAccessKey)
    throw new Error(`The root credentials file ${file} must hold {"accessKeyId","secretAccessKey"}.`);
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
      throw new Error('Set both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY, or neither.');
    if (!/^\w{16,128}$/.test(accessKeyId))
      throw new Error('HSMKMS_ROOT_ACCESS_KEY_ID must be 16 to 128 letters, digits or underscores.');
    credentials = { accessKeyId, secretAccessKey };
  }

  const existing = await store.getAccessKey(credentials.accessKeyId);
  if (existing) {
    if (existing.principalArn !== principal.arn)
      throw new Error(`The root access key id ${credentials.accessKeyId} already belongs to ${existing.principalArn}.`);
    const stored = await backend.unsealSecret(existing.sealedSecret);
    const given = Buffer.from(credentials.secretAccessKey, 'utf8');
    const same = stored.length === given.length && timingSafeEqual(stored, given);
    stored.fill(0);
    if (!same)
      throw new Error(
        `The root access key id ${credentials.accessKeyId} is already registered with a different secret; choose a new access key id to change the secret.`,
      );
    if (!(await store.getPrincipal(principal.arn))) await store.insertPrincipal(principal);
  } else {
    await storeAccessKey(store, backend, principal, true, credentials.accessKeyId, credentials.secretAccessKey);
  }
  return file === undefined ? { accessKeyId: credentials.accessKeyId, generated } : { accessKeyId: credentials.accessKeyId, generated, file };
}
