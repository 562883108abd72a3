/**
 * The SigV4 credentials of hsmkms's XKS proxy endpoint: one URI path prefix per logical key
 * store, at most two active credentials per prefix (so that one can replace the other without
 * interruption, as the specification recommends). Secrets are sealed by the HSM at rest.
 */
import { randomBytes } from 'node:crypto';
import { randomBase32 } from '../core/base32.js';
import { KmsError } from '../core/errors.js';
import { XKS_ACCESS_KEY_ID } from '../core/key-stores/rules.js';
import type { XksCredentialRecord } from '../core/key-stores/model.js';
import { CoherentCache, LocalInvalidationBus, type InvalidationBus } from '../core/invalidation.js';
import type { KeyBackend, MetadataStore } from '../core/ports.js';

/** Two per prefix, as the specification recommends for rotation. */
export const MAX_CREDENTIALS_PER_PREFIX = 2;

/** Path prefixes: letters, digits, `/`, `-`, `_`; the whole XksProxyUriPath stays within AWS's 128 characters. */
const PREFIX = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;
const MAX_PREFIX = 128 - '//kms/xks/v1'.length;

/** Normalises a prefix as people write it (`/tenant/a/`, `tenant/a`) to `tenant/a`; `''` is none. */
export function normaliseUriPrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (trimmed.length > MAX_PREFIX || !PREFIX.test(trimmed))
    throw new KmsError('ValidationException', `A URI prefix is up to ${MAX_PREFIX} characters of A-Z a-z 0-9 - _ in /-separated segments, got '${prefix.slice(0, 140)}'.`);
  return trimmed;
}

/** The XksProxyUriPath to give AWS KMS for a prefix. */
export function xksProxyUriPath(uriPrefix: string): string {
  return uriPrefix === '' ? '/kms/xks/v1' : `/${uriPrefix}/kms/xks/v1`;
}

/** 26 characters of A–Z and 2–7 (130 random bits), as AWS requires of XKS access key ids. */
export function newXksAccessKeyId(): string {
  return randomBase32(26);
}

export interface NewXksCredential {
  uriPrefix: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Creates a credential for a prefix; refuses a third active one (delete one first). */
export async function createXksCredential(store: MetadataStore, backend: KeyBackend, uriPrefix: string, now: Date): Promise<NewXksCredential> {
  const prefix = normaliseUriPrefix(uriPrefix);
  // 256 random bits, base64: 44 characters of a-z A-Z 0-9 + / =, within AWS's 43–64.
  const secretAccessKey = randomBytes(32).toString('base64');
  const record: XksCredentialRecord = {
    accessKeyId: newXksAccessKeyId(),
    uriPrefix: prefix,
    sealedSecret: await backend.sealSecret(Buffer.from(secretAccessKey, 'utf8')),
    createdAt: now,
  };
  await store.transaction(async (tx) => {
    const existing = (await tx.keyStores.listXksCredentials()).filter((c) => c.uriPrefix === prefix);
    if (existing.length >= MAX_CREDENTIALS_PER_PREFIX)
      throw new KmsError(
        'LimitExceededException',
        `The URI prefix '${prefix}' already has ${MAX_CREDENTIALS_PER_PREFIX} credentials (${existing.map((c) => c.accessKeyId).join(', ')}); delete one with hsmkms xks credential delete first.`,
      );
    await tx.keyStores.insertXksCredential(record);
  });
  return { uriPrefix: prefix, accessKeyId: record.accessKeyId, secretAccessKey };
}

/** What verifying an XKS request needs to know about an access key. */
export interface ResolvedXksCredential {
  uriPrefix: string;
  secretAccessKey: string;
}

export interface XksCredentialResolver {
  resolve(accessKeyId: string): Promise<ResolvedXksCredential | undefined>;
}

/**
 * Resolves credentials from the metadata store, unsealing each secret once and keeping it for
 * `ttlMs` (default 30 s). With `changes` (nodes sharing a store), a deleted credential leaves
 * the cache when the deletion is announced, and nothing is served from it while the feed is
 * not coherent; without, it stops working within the TTL. Unknown ids are not cached, so random
 * ids cannot push real ones out.
 */
export function createXksCredentialResolver(
  store: MetadataStore,
  backend: KeyBackend,
  options: { ttlMs?: number; now?: () => number; changes?: InvalidationBus } = {},
): XksCredentialResolver {
  // Two per prefix and a handful of prefixes: a small bound is plenty.
  const cache = new CoherentCache<ResolvedXksCredential>({
    bus: options.changes ?? new LocalInvalidationBus(),
    capacity: 1000,
    topics: ['xks-credential'],
    ttlMs: options.ttlMs ?? 30_000,
    now: options.now,
  });
  async function load(accessKeyId: string): Promise<ResolvedXksCredential | undefined> {
    const record = await store.keyStores.getXksCredential(accessKeyId);
    if (!record) return undefined;
    const secret = await backend.unsealSecret(record.sealedSecret);
    const value = { uriPrefix: record.uriPrefix, secretAccessKey: secret.toString('utf8') };
    secret.fill(0);
    return value;
  }
  return {
    async resolve(accessKeyId) {
      // Anything but an XKS access key id is not looked up.
      if (!XKS_ACCESS_KEY_ID.test(accessKeyId)) return undefined;
      return cache.get(accessKeyId, '', () => load(accessKeyId));
    },
  };
}
