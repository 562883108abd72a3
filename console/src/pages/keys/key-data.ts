/**
 * What the keys pages read about keys, with the caller's own permissions: each key's metadata
 * and rotation status may be refused on its own, and is shown as refused, not hidden.
 */
import {
  DescribeKeyCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  ListKeysCommand,
  type AliasListEntry,
  type KeyMetadata,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { ALIAS_PREFIX, checkAliasName } from '../../../../src/core/operations/alias-names.js';
import { toFailure, type ApiFailure } from '../../api/errors.js';
import { rulesProblem } from '../../components/rules-problem.js';
import { mapLimited } from '../../components/use-call.js';

export interface KeyRow {
  keyId: string;
  arn: string;
  aliases: string[];
  metadata?: KeyMetadata;
  describeError?: ApiFailure;
  /** Automatic rotation: on/off, `n/a` where the key cannot rotate, or the refusal. */
  rotation?: boolean | 'n/a' | ApiFailure;
}

/** Calls in flight at once when describing many keys. */
const CONCURRENCY = 6;
/** ListAliases pages read at most (100 aliases each). */
const MAX_ALIAS_PAGES = 50;

/** Whether automatic rotation applies: symmetric encryption keys with material made by the HSM. */
export function rotatable(metadata: KeyMetadata | undefined): boolean {
  return metadata?.KeySpec === 'SYMMETRIC_DEFAULT' && metadata.Origin === 'AWS_KMS' && metadata.KeyState !== 'PendingDeletion';
}

export async function listAllAliases(kms: KMSClient, keyId?: string): Promise<AliasListEntry[]> {
  const out: AliasListEntry[] = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_ALIAS_PAGES; page++) {
    const answer = await kms.send(new ListAliasesCommand({ Limit: 100, ...(keyId ? { KeyId: keyId } : {}), ...(marker ? { Marker: marker } : {}) }));
    out.push(...(answer.Aliases ?? []));
    if (!answer.Truncated || !answer.NextMarker) break;
    marker = answer.NextMarker;
  }
  return out;
}

/** Describes one key and, where it applies, its rotation status. */
export async function describeRow(kms: KMSClient, row: Pick<KeyRow, 'keyId' | 'arn' | 'aliases'>): Promise<KeyRow> {
  let metadata: KeyMetadata | undefined;
  try {
    metadata = (await kms.send(new DescribeKeyCommand({ KeyId: row.keyId }))).KeyMetadata;
  } catch (error) {
    return { ...row, describeError: toFailure(error) };
  }
  if (!rotatable(metadata)) return { ...row, ...(metadata ? { metadata } : {}), rotation: 'n/a' };
  try {
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: row.keyId }));
    return { ...row, ...(metadata ? { metadata } : {}), rotation: status.KeyRotationEnabled === true };
  } catch (error) {
    return { ...row, ...(metadata ? { metadata } : {}), rotation: toFailure(error) };
  }
}

export interface KeyPage {
  rows: KeyRow[];
  nextMarker?: string;
}

/** One page of ListKeys, described; `progress` counts keys described. */
export async function loadKeyPage(kms: KMSClient, marker: string | undefined, progress: (done: number, total: number) => void): Promise<KeyPage> {
  const [keys, aliases] = await Promise.all([
    kms.send(new ListKeysCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) })),
    listAllAliases(kms),
  ]);
  const byKey = new Map<string, string[]>();
  for (const alias of aliases)
    if (alias.TargetKeyId && alias.AliasName) byKey.set(alias.TargetKeyId, [...(byKey.get(alias.TargetKeyId) ?? []), alias.AliasName]);
  const entries = (keys.Keys ?? []).flatMap((k) => (k.KeyId && k.KeyArn ? [{ keyId: k.KeyId, arn: k.KeyArn, aliases: byKey.get(k.KeyId) ?? [] }] : []));
  progress(0, entries.length);
  const rows = await mapLimited(entries, CONCURRENCY, (entry) => describeRow(kms, entry), (done) => progress(done, entries.length));
  return { rows, ...(keys.Truncated && keys.NextMarker ? { nextMarker: keys.NextMarker } : {}) };
}

/** How a key is named to a person: its first alias, else its id. */
export function keyLabel(row: Pick<KeyRow, 'keyId' | 'aliases'>): string {
  return row.aliases[0] ?? row.keyId;
}

/**
 * What is wrong with an alias name typed without its `alias/` prefix, in the service's words
 * (CreateAlias's own rule); undefined for a good name or nothing typed.
 */
export function aliasProblem(name: string): string | undefined {
  if (name === '') return undefined;
  return rulesProblem(() => checkAliasName(`${ALIAS_PREFIX}${name}`, true));
}
