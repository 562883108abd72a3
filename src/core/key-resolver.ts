/**
 * Turns the `KeyId` a client sends (key id, key ARN, alias name or alias ARN) into a key
 * record, and checks the state an operation needs, with AWS's error names and wording.
 */
import { KmsError } from './errors.js';
import { usagesFor, type KeyRecord, type KeySpec, type KeyUsage } from './model.js';
import type { KmsSettings } from './operation.js';
import type { MetadataRepository } from './ports.js';

/** The ARN of a key in this deployment's region. */
export function keyArn(settings: KmsSettings, keyId: string): string {
  return regionalKeyArn(settings, settings.region, keyId);
}

/** The ARN of a key in `region` of this deployment's account and partition (a multi-Region key's other regions). */
export function regionalKeyArn(settings: KmsSettings, region: string, keyId: string): string {
  return `arn:${settings.partition}:kms:${region}:${settings.accountId}:key/${keyId}`;
}

export function aliasArn(settings: KmsSettings, aliasName: string): string {
  return `arn:${settings.partition}:kms:${settings.region}:${settings.accountId}:${aliasName}`;
}

type KeyReference = { kind: 'key'; keyId: string } | { kind: 'alias'; aliasName: string };

/** Parses a KeyId member without touching the store. */
export function parseKeyReference(settings: KmsSettings, value: string): KeyReference {
  if (value.startsWith('arn:')) {
    const parts = value.split(':');
    const resource = parts.slice(5).join(':');
    if (parts.length < 6 || parts[2] !== 'kms' || !(resource.startsWith('key/') || resource.startsWith('alias/')))
      throw new KmsError('NotFoundException', `Invalid keyId '${value}'`);
    // AWS KMS answers a key ARN of another region of the account "Invalid arn <region>" (recorded
    // DescribeKey responses); another account's or partition's key is one it does not have.
    if (resource.startsWith('key/') && parts[1] === settings.partition && parts[4] === settings.accountId && parts[3] !== settings.region)
      throw new KmsError('NotFoundException', `Invalid arn ${parts[3]}`);
    if (parts[1] !== settings.partition || parts[3] !== settings.region || parts[4] !== settings.accountId)
      throw new KmsError('NotFoundException', `Key '${value}' does not exist`);
    return resource.startsWith('key/')
      ? { kind: 'key', keyId: resource.slice('key/'.length) }
      : { kind: 'alias', aliasName: resource };
  }
  if (value.startsWith('alias/')) return { kind: 'alias', aliasName: value };
  return { kind: 'key', keyId: value };
}

/** Resolves a KeyId member to a key record, or throws NotFoundException as AWS does. */
export async function resolveKey(repo: MetadataRepository, settings: KmsSettings, value: string): Promise<KeyRecord> {
  const ref = parseKeyReference(settings, value);
  if (ref.kind === 'alias') {
    const alias = await repo.getAlias(ref.aliasName);
    if (!alias) throw new KmsError('NotFoundException', `Alias ${aliasArn(settings, ref.aliasName)} is not found.`);
    const key = await repo.getKey(alias.targetKeyId);
    if (!key) throw new KmsError('NotFoundException', `Alias ${aliasArn(settings, ref.aliasName)} is not found.`);
    return key;
  }
  const key = await repo.getKey(ref.keyId);
  if (!key) {
    // AWS KMS tells a malformed id from an unknown one: "Invalid keyId 'fake-key-id'".
    if (!KEY_ID_SHAPE.test(ref.keyId)) throw new KmsError('NotFoundException', `Invalid keyId '${ref.keyId}'`);
    throw new KmsError('NotFoundException', `Key '${keyArn(settings, ref.keyId)}' does not exist`);
  }
  return key;
}

/**
 * For a KeyId member AWS documents as "key ID or key ARN" only (key management, policies, tags,
 * grants, rotation, import, multi-Region): an alias name or alias ARN is not followed to its key
 * but refused in AWS KMS's words for it, InvalidArnException "Key Aliases are not supported for this operation."
 */
export async function resolveKeyIdOrArn(repo: MetadataRepository, settings: KmsSettings, value: string): Promise<KeyRecord> {
  if (parseKeyReference(settings, value).kind === 'alias') throw new KmsError('InvalidArnException', 'Key Aliases are not supported for this operation.');
  return resolveKey(repo, settings, value);
}

/** The shape of every key id: a UUID, or `mrk-` and 32 hex digits for a multi-Region key. */
const KEY_ID_SHAPE = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

/**
 * For cryptographic operations: the key must be Enabled. Disabled → DisabledException;
 * PendingDeletion, PendingImport and the rest → KMSInvalidStateException.
 */
export function requireEnabled(key: KeyRecord): void {
  switch (key.keyState) {
    case 'Enabled':
      return;
    case 'Disabled':
      throw new KmsError('DisabledException', `${key.arn} is disabled.`);
    case 'PendingDeletion':
      throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    case 'PendingImport':
      throw new KmsError('KMSInvalidStateException', `${key.arn} is pending import.`);
    case 'PendingReplicaDeletion':
      throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion (it waits for its replica keys to be deleted).`);
    case 'Creating':
      throw new KmsError('KMSInvalidStateException', `${key.arn} is Creating (a replica key whose key material has not arrived yet).`);
    default:
      throw new KmsError('KMSInvalidStateException', `${key.arn} is ${key.keyState}.`);
  }
}

/** PendingDeletion, or a multi-Region primary waiting for its replicas' deletion (PendingReplicaDeletion). */
export function isPendingDeletion(key: Pick<KeyRecord, 'keyState'>): boolean {
  return key.keyState === 'PendingDeletion' || key.keyState === 'PendingReplicaDeletion';
}

/** A replica key whose key material has not arrived yet is refused. */
export function requireNotCreating(key: KeyRecord): void {
  if (key.keyState === 'Creating') throw new KmsError('KMSInvalidStateException', `${key.arn} is Creating (a replica key whose key material has not arrived yet).`);
}

/**
 * For management operations that are refused only while a key awaits deletion (also a
 * multi-Region primary in PendingReplicaDeletion, which waits for its replicas to go first), and
 * while a replica key is still being created here (`Creating`: its material has not arrived).
 */
export function requireNotPendingDeletion(key: KeyRecord): void {
  requireNotCreating(key);
  if (isPendingDeletion(key))
    throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion${key.keyState === 'PendingReplicaDeletion' ? ' (it waits for its replica keys to be deleted)' : ''}.`);
}

/** The key's usage must match the operation's (e.g. Encrypt needs ENCRYPT_DECRYPT). */
export function requireUsage(key: KeyRecord, usage: KeyRecord['keyUsage'], operation: string): void {
  if (key.keyUsage !== usage)
    throw new KmsError(
      'InvalidKeyUsageException',
      `${key.arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`,
    );
}

/**
 * A new key's (or replica's) KeyUsage must be one its KeySpec allows; AWS KMS refuses another in
 * these words (its CreateKey answer to RSA_2048 with KEY_AGREEMENT, recorded).
 */
export function requireUsageForSpec(keySpec: KeySpec, keyUsage: KeyUsage): void {
  if (!usagesFor(keySpec).includes(keyUsage)) throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}`);
}
