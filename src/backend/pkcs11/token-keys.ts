/**
 * The backend's own token objects: the domain key (AES-256, wraps every CMK's material), the
 * seal key (AES-256-GCM, seals service secrets) and, once a multi-Region key is made, the
 * replication key (AES-256, wraps the transfer copy of multi-Region key material; see
 * replica-transport.ts). All are persistent, private, sensitive and never extractable: created in
 * the token, used in the token, never leave it.
 *
 * Several keys may carry the same label (two processes racing on first start, or a future
 * rotation). New material always uses the one with the smallest CKA_ID, so racing processes
 * converge; each blob names the CKA_ID it was made with, so every key that ever wrapped
 * something keeps unwrapping it.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import type { Handle, Template } from 'pkcs11js';
import { HsmError, toHsmError } from './errors.js';
import { loadAddon } from '../../native/addon.js';
import { ConfigError } from '../../config/hsm.js';
import type { HsmCalls } from './hsm-calls.js';
import { tokenAesKeyTemplate, type TokenAesUsage } from './key-specs.js';

const P = pkcs11js;

export type TokenKeyRole = 'domain' | 'seal' | 'replication';

export const TOKEN_KEY_LABELS: Readonly<Record<TokenKeyRole, string>> = {
  domain: 'hsmkms-domain-key',
  seal: 'hsmkms-seal-key',
  replication: 'hsmkms-replication-key',
};

/** What each role's key may do (nothing else: see tokenAesKeyTemplate). */
const USAGE: Readonly<Record<TokenKeyRole, TokenAesUsage>> = {
  domain: { wrap: true, unwrap: true },
  seal: { encrypt: true, decrypt: true },
  replication: { wrap: true, unwrap: true },
};

/** One role's keys, by CKA_ID (hex). */
export class TokenKeySet {
  constructor(
    readonly role: TokenKeyRole,
    private readonly byId: Map<string, Handle>,
    private readonly calls: HsmCalls,
    /** The epoch the handles were found in (handle-cache.ts). */
    private readonly epoch: number,
  ) {}

  /**
   * Found in an epoch that has ended (HsmCalls refuses these handles), or found empty (a session
   * without the login sees no private object: after the token came back, before the login did):
   * look the keys up again.
   */
  get stale(): boolean {
    return this.epoch !== this.calls.epoch || this.byId.size === 0;
  }

  /** The key new material is protected with; an HsmError when the token showed none. */
  current(): { id: Buffer; handle: Handle } {
    const ids = [...this.byId.keys()].sort();
    const id = ids[0];
    // The token's own keys are private objects: a session sees none of them when the process's
    // login is gone (the token came back, the login not yet). The recovery is a lost session's:
    // drop the pooled sessions, test the owner and replace it (logging in) when it went; the set
    // is stale while empty, so the retry looks the keys up again.
    if (id === undefined)
      throw new HsmError(
        'ERR_TOKEN_KEY_MISSING',
        0,
        'C_FindObjects',
        'unavailable',
        `The token showed none of its ${this.role} keys (${TOKEN_KEY_LABELS[this.role]}); a session without the login sees none.`,
        'session',
      );
    return { id: Buffer.from(id, 'hex'), handle: this.byId.get(id)! };
  }

  get(id: Buffer): Handle | undefined {
    return this.byId.get(id.toString('hex'));
  }

  get size(): number {
    return this.byId.size;
  }
}

async function find(calls: HsmCalls, session: Handle, role: TokenKeyRole): Promise<TokenKeySet> {
  const found = new Map<string, Handle>();
  // Stamped with the epoch they were found in: a reset or renewed login ends it (and the
  // runtime looks them up again), and HsmCalls refuses them from then on (handle-cache.ts).
  const epoch = calls.epoch;
  try {
    const handles = await calls.findObjects(
      session,
      [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_LABEL, value: TOKEN_KEY_LABELS[role] },
      ],
      64,
    );
    for (const h of handles) {
      const [id] = await calls.call('C_GetAttributeValue', session, h, [{ type: P.CKA_ID }]);
      if (Buffer.isBuffer(id?.value) && id.value.length > 0) {
        calls.stamp(h, epoch);
        found.set(id.value.toString('hex'), h);
      }
    }
  } catch (e) {
    throw toHsmError(e, 'C_FindObjects');
  }
  return new TokenKeySet(role, found, calls, epoch);
}

/**
 * What every key unwrapped under a domain key must be, when the token enforces it (the profile's
 * `unwrapTemplate`): sensitive and never extractable, whoever asks.
 */
export const DOMAIN_UNWRAP_TEMPLATE: Template = [
  { type: P.CKA_SENSITIVE, value: true },
  { type: P.CKA_EXTRACTABLE, value: false },
];

export interface TokenKeyOptions {
  /** The module the session belongs to; with `unwrapTemplate`, the addon creates the domain key. */
  modulePath: string;
  /** Create a domain key with {@link DOMAIN_UNWRAP_TEMPLATE} as its CKA_UNWRAP_TEMPLATE. */
  unwrapTemplate: boolean;
  raceWindowMs?: number;
}

/**
 * Finds the role's keys, creating one on first use. After creating, waits briefly and looks again
 * so a process that raced us sees both keys and picks the same one.
 */
export async function loadTokenKeys(calls: HsmCalls, session: Handle, role: TokenKeyRole, options: TokenKeyOptions): Promise<TokenKeySet> {
  const keys = await find(calls, session, role);
  if (keys.size > 0) return keys;
  const template: Template = [...tokenAesKeyTemplate(TOKEN_KEY_LABELS[role], randomBytes(16), USAGE[role]), { type: P.CKA_MODIFIABLE, value: false }];
  try {
    if (role === 'domain' && options.unwrapTemplate) {
      // pkcs11js cannot pass a template-valued attribute; the addon can. Start-up only.
      const attributes = template.map((a) => ({ type: a.type, value: a.value as boolean | number | Buffer | string }));
      const unwrap = DOMAIN_UNWRAP_TEMPLATE.map((a) => ({ type: a.type, value: a.value as boolean }));
      loadAddon().generateKeyWithUnwrapTemplate(options.modulePath, session, P.CKM_AES_KEY_GEN, attributes, unwrap);
    } else {
      await calls.op('generate', 'C_GenerateKey', session, { mechanism: P.CKM_AES_KEY_GEN }, template);
    }
  } catch (e) {
    // A missing native addon is not an HSM failure: it says how to build it.
    if (e instanceof ConfigError) throw e;
    throw toHsmError(e, 'C_GenerateKey');
  }
  await sleep(options.raceWindowMs ?? 250);
  return find(calls, session, role);
}

/** Looks the role's keys up again (a blob named a key created by another process). */
export async function reloadTokenKeys(calls: HsmCalls, session: Handle, role: TokenKeyRole): Promise<TokenKeySet> {
  return find(calls, session, role);
}
