/**
 * A token whose AES-256 keys are persistent token objects addressed by CKA_LABEL (and optionally
 * CKA_ID): the keys of a token-backed custom key store, and the keys hsmkms's XKS proxy serves
 * (the layout aws-kms-xks-proxy uses, so its keys work here unchanged).
 *
 * Unlike the default store (pkcs11-backend.ts), nothing is wrapped: the key objects live in the
 * token for good, sensitive and never extractable, so the token's owner can list and audit them
 * with pkcs11-tool. The keyring keeps one anchor session open for as long as it is open: login
 * state belongs to the application, and ends when the last session to the token closes.
 */
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, PKCS11, Template } from 'pkcs11js';
import { HsmError } from '../../core/errors.js';
import type { HsmConfig } from '../../config/hsm.js';
import { hsmError, toHsmError } from './errors.js';
import { closeQuietly, findTokenSlot, loadModule, openSession } from './module.js';
import { profileFor, type HsmProfile } from './profiles.js';
import { SessionPool } from './session-pool.js';

const P = pkcs11js;

/** Where the keyring's token is; the PIN is asked for whenever a login is needed, never kept. */
export interface TokenKeyringConfig extends Omit<HsmConfig, 'pin'> {
  pin: () => Promise<string>;
  /** Sessions in the pool (default 4). */
  poolSize?: number;
  /**
   * What a login that finds the token already logged in (by other code in this process) means:
   * `accept` (the default store's own token), or `refuse`, when the PIN itself must be proven.
   */
  alreadyLoggedIn?: 'accept' | 'refuse';
}

/** Names a key object: its label, and its CKA_ID when the caller knows which object it made. */
export interface KeyName {
  label: string;
  id?: Uint8Array | undefined;
}

/** What the token says about a key object. */
export interface KeyObjectInfo {
  label: string;
  id: Buffer;
  /** CKK_AES keys only are usable; others are reported so that callers can say why not. */
  aes: boolean;
  /** CKA_VALUE_LEN in bytes. */
  length: number;
  usage: { encrypt: boolean; decrypt: boolean; sign: boolean; verify: boolean; wrap: boolean; unwrap: boolean; derive: boolean };
}

/** The token's identity, for health reports. */
export interface TokenIdentity {
  label: string;
  model: string;
  manufacturer: string;
  serial: string;
}

const USAGE_ATTRIBUTES = [P.CKA_ENCRYPT, P.CKA_DECRYPT, P.CKA_SIGN, P.CKA_VERIFY, P.CKA_WRAP, P.CKA_UNWRAP, P.CKA_DERIVE] as const;
/** PKCS#11 session states with the user logged in (pkcs11js does not export the CKS_ constants). */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
const KEY_CACHE_SIZE = 4096;
/** Return codes of an object handle that no longer names the object. */
const STALE_HANDLE: Readonly<Record<string, 'data'>> = { CKR_OBJECT_HANDLE_INVALID: 'data', CKR_KEY_HANDLE_INVALID: 'data' };
const trim = (s: string) => s.replace(/[\s\0]+$/, '');

/** A label-addressed set of AES token keys in one token. Create with {@link TokenKeyring.open}. */
export class TokenKeyring {
  private anchor: Handle | undefined;
  private readonly keys = new Map<string, { handle: Handle; info: KeyObjectInfo }>();
  private relogin: Promise<void> | undefined;
  private closed = false;

  private constructor(
    readonly module: PKCS11,
    private readonly slot: Handle,
    private readonly profile: HsmProfile,
    private readonly config: TokenKeyringConfig,
    private readonly pool: SessionPool,
  ) {}

  /**
   * Loads the module, finds the token and logs in. Throws ConfigError when the module or the
   * token cannot be found, HsmError (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, …) when the login fails,
   * and HsmError CKR_USER_ALREADY_LOGGED_IN when `alreadyLoggedIn` is `refuse` and it is.
   */
  static async open(config: TokenKeyringConfig): Promise<TokenKeyring> {
    const module = loadModule(config.modulePath);
    const slot = findTokenSlot(module, config.token);
    const keyring = new TokenKeyring(module, slot, profileFor(config.profile), config, new SessionPool(module, slot, config.poolSize ?? 4));
    try {
      await keyring.logIn(config.alreadyLoggedIn ?? 'accept');
    } catch (error) {
      await keyring.close();
      throw error;
    }
    return keyring;
  }

  /** Opens the anchor session and logs the user in on it. */
  private async logIn(alreadyLoggedIn: 'accept' | 'refuse'): Promise<void> {
    const anchor = openSession(this.module, this.slot);
    const state = this.module.C_GetSessionInfo(anchor).state;
    if (state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS) {
      if (alreadyLoggedIn === 'refuse') {
        closeQuietly(this.module, anchor);
        throw hsmError('CKR_USER_ALREADY_LOGGED_IN', 'C_Login', 'config', 'The token is already logged in by other code in this process.');
      }
      this.anchor = anchor;
      return;
    }
    const pin = await this.config.pin();
    try {
      this.module.C_Login(anchor, P.CKU_USER, pin);
    } catch (e) {
      const error = toHsmError(e, 'C_Login');
      if (error.code !== 'CKR_USER_ALREADY_LOGGED_IN') {
        closeQuietly(this.module, anchor);
        throw error;
      }
    }
    this.anchor = anchor;
  }

  /**
   * Runs `fn` on a pooled session. When the session or the login was lost (failover, the token
   * logged out), logs in again and retries once; other errors go straight back as HsmError.
   */
  private async run<T>(name: string, fn: (session: Handle) => Promise<T> | T, overrides?: Readonly<Record<string, HsmError['kind']>>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.use(async (s) => {
          try {
            return await fn(s);
          } catch (e) {
            throw toHsmError(e, name, overrides);
          }
        });
      } catch (e) {
        const error = toHsmError(e, name);
        if (this.closed || attempt >= 1 || (error.kind !== 'session' && error.kind !== 'device')) throw error;
        await this.recover();
      }
    }
  }

  private recover(): Promise<void> {
    this.relogin ??= (async () => {
      this.keys.clear();
      this.pool.drain();
      if (this.anchor && this.anchorLoggedIn()) return;
      if (this.anchor) closeQuietly(this.module, this.anchor);
      this.anchor = undefined;
      await this.logIn('accept');
    })().finally(() => {
      this.relogin = undefined;
    });
    return this.relogin;
  }

  private anchorLoggedIn(): boolean {
    try {
      const state = this.module.C_GetSessionInfo(this.anchor!).state;
      return state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS;
    } catch {
      return false;
    }
  }

  private isSync(): boolean {
    return this.profile.syncCalls.has('aes');
  }

  // ───────────────────────── keys ─────────────────────────

  /**
   * Generates an AES-256 token object: private, sensitive, never extractable, usable for the
   * given operations only. Returns its CKA_ID (random, 16 bytes, unless given).
   */
  async generateAesKey(label: string, usage: { encrypt: boolean; decrypt: boolean }, id: Buffer = randomBytes(16)): Promise<Buffer> {
    const template: Template = [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      { type: P.CKA_VALUE_LEN, value: 32 },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true },
      { type: P.CKA_EXTRACTABLE, value: false },
      { type: P.CKA_LABEL, value: label },
      { type: P.CKA_ID, value: id },
      { type: P.CKA_ENCRYPT, value: usage.encrypt },
      { type: P.CKA_DECRYPT, value: usage.decrypt },
      { type: P.CKA_WRAP, value: false },
      { type: P.CKA_UNWRAP, value: false },
      { type: P.CKA_SIGN, value: false },
      { type: P.CKA_VERIFY, value: false },
      { type: P.CKA_DERIVE, value: false },
    ];
    const mechanism = { mechanism: P.CKM_AES_KEY_GEN };
    await this.run('C_GenerateKey', async (s) =>
      this.profile.syncCalls.has('generate') ? this.module.C_GenerateKey(s, mechanism, template) : await this.module.C_GenerateKeyAsync(s, mechanism, template),
    );
    return id;
  }

  /** The key object's attributes; undefined when no object has this label (and id). */
  async describe(name: KeyName): Promise<KeyObjectInfo | undefined> {
    const found = await this.run('C_FindObjects', (s) => this.lookup(s, name));
    if (found === 'ambiguous') throw new KeyringKeyError('ambiguous', `Several key objects in the token are labelled "${name.label}".`);
    return found?.info;
  }

  /** Every secret-key token object, for listing. */
  async list(): Promise<KeyObjectInfo[]> {
    return this.run('C_FindObjects', (s) => this.find(s, [{ type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_TOKEN, value: true }], 10_000).map((h) => this.read(s, h)));
  }

  /** Destroys the key object; false when it is not there. */
  async destroy(name: KeyName): Promise<boolean> {
    return this.run('C_DestroyObject', (s) => {
      const found = this.lookup(s, name);
      if (!found || found === 'ambiguous') return false;
      this.keys.delete(cacheKey(name));
      this.module.C_DestroyObject(s, found.handle);
      return true;
    });
  }

  /**
   * AES-256-GCM encryption in the token with a 12-byte IV (ours, or the token's on tokens that
   * choose it). Returns the IV and the ciphertext followed by the 16-byte tag. Throws
   * KeyringKeyError when the key is missing or may not encrypt.
   */
  async encrypt(name: KeyName, plaintext: Buffer, aad: Buffer): Promise<{ iv: Buffer; ciphertext: Buffer }> {
    return this.withKey('C_Encrypt', name, 'encrypt', async (s, key) => {
      const iv = this.profile.hsmGeneratedGcmIv ? Buffer.alloc(12) : randomBytes(12);
      this.module.C_EncryptInit(s, gcm(iv, aad), key);
      const out = Buffer.alloc(plaintext.length + 16);
      const ciphertext = this.isSync() ? this.module.C_Encrypt(s, plaintext, out) : await this.module.C_EncryptAsync(s, plaintext, out);
      return { iv, ciphertext: Buffer.from(ciphertext) };
    });
  }

  /** AES-256-GCM decryption in the token. A tag that does not verify is HsmError kind `data`. */
  async decrypt(name: KeyName, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    if ((iv.length !== 12 && iv.length !== 16) || ciphertext.length < 16)
      throw hsmError('CKR_ENCRYPTED_DATA_INVALID', 'C_Decrypt', 'data', 'AES-GCM input needs a 12- or 16-byte IV and a 16-byte tag.');
    return this.withKey(
      'C_Decrypt',
      name,
      'decrypt',
      async (s, key) => {
        this.module.C_DecryptInit(s, gcm(iv, aad), key);
        const out = Buffer.alloc(ciphertext.length);
        return Buffer.from(this.isSync() ? this.module.C_Decrypt(s, ciphertext, out) : await this.module.C_DecryptAsync(s, ciphertext, out));
      },
      Object.fromEntries(this.profile.badCiphertextCodes.map((c) => [c, 'data' as const])),
    );
  }

  /**
   * Runs `fn` with the key's handle after checking that the key may be used so. A handle that
   * went stale (the object was deleted or re-created under us) is looked up once more.
   */
  private async withKey<T>(
    name: string,
    key: KeyName,
    use: 'encrypt' | 'decrypt',
    fn: (s: Handle, key: Handle) => Promise<T>,
    overrides: Readonly<Record<string, HsmError['kind']>> = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const found = await this.run('C_FindObjects', (s) => this.lookup(s, key));
      if (found === undefined) throw new KeyringKeyError('missing', `No AES key labelled "${key.label}" is in the token.`);
      if (found === 'ambiguous') throw new KeyringKeyError('ambiguous', `Several key objects in the token are labelled "${key.label}".`);
      if (!found.info.aes || found.info.length !== 32) throw new KeyringKeyError('unsuitable', `The key "${key.label}" is not an AES-256 key.`);
      if (!found.info.usage[use]) throw new KeyringKeyError('usage', `The key "${key.label}" may not ${use} (CKA_${use.toUpperCase()} is false).`);
      try {
        // A stale handle is handled here (look up again), not by dropping sessions.
        return await this.run(name, (s) => fn(s, found.handle), { ...overrides, ...STALE_HANDLE });
      } catch (e) {
        const code = e instanceof HsmError ? e.code : '';
        if (code in STALE_HANDLE || code === 'CKR_KEY_FUNCTION_NOT_PERMITTED') this.keys.delete(cacheKey(key));
        if (code === 'CKR_KEY_FUNCTION_NOT_PERMITTED') throw new KeyringKeyError('usage', `The token refused to ${use} with "${key.label}".`);
        if (code in STALE_HANDLE && attempt === 0) continue;
        throw e;
      }
    }
  }

  /** Finds a key object by label (and id), through a cache of handles. */
  private lookup(session: Handle, name: KeyName): { handle: Handle; info: KeyObjectInfo } | 'ambiguous' | undefined {
    const id = cacheKey(name);
    const cached = this.keys.get(id);
    if (cached) return cached;
    const template: Template = [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_LABEL, value: name.label },
    ];
    if (name.id) template.push({ type: P.CKA_ID, value: Buffer.from(name.id) });
    const handles = this.find(session, template, 2);
    if (handles.length === 0) return undefined;
    if (handles.length > 1) return 'ambiguous';
    const entry = { handle: handles[0]!, info: this.read(session, handles[0]!) };
    if (this.keys.size >= KEY_CACHE_SIZE) this.keys.clear();
    this.keys.set(id, entry);
    return entry;
  }

  private find(session: Handle, template: Template, max: number): Handle[] {
    this.module.C_FindObjectsInit(session, template);
    try {
      return this.module.C_FindObjects(session, max);
    } finally {
      this.module.C_FindObjectsFinal(session);
    }
  }

  private read(session: Handle, handle: Handle): KeyObjectInfo {
    const [label, id, keyType] = this.module.C_GetAttributeValue(session, handle, [{ type: P.CKA_LABEL }, { type: P.CKA_ID }, { type: P.CKA_KEY_TYPE }]);
    const aes = ulong(keyType!.value as Buffer) === P.CKK_AES;
    let length = 0;
    if (aes) {
      const [len] = this.module.C_GetAttributeValue(session, handle, [{ type: P.CKA_VALUE_LEN }]);
      length = ulong(len!.value as Buffer);
    }
    const flags = USAGE_ATTRIBUTES.map((type) => {
      try {
        const [attribute] = this.module.C_GetAttributeValue(session, handle, [{ type }]);
        return (attribute!.value as Buffer)[0] === 1;
      } catch {
        return false;
      }
    });
    return {
      label: Buffer.from(label!.value as Buffer).toString('utf8'),
      id: Buffer.from(id!.value as Buffer),
      aes,
      length,
      usage: { encrypt: flags[0]!, decrypt: flags[1]!, sign: flags[2]!, verify: flags[3]!, wrap: flags[4]!, unwrap: flags[5]!, derive: flags[6]! },
    };
  }

  /** Random bytes from the token's RNG (1–65536). */
  async generateRandom(length: number): Promise<Buffer> {
    if (!Number.isInteger(length) || length < 1 || length > 65536)
      throw hsmError('CKR_ARGUMENTS_BAD', 'C_GenerateRandom', 'data', 'Random length must be 1 to 65536 bytes.');
    return this.run('C_GenerateRandom', (s) => Buffer.from(this.module.C_GenerateRandom(s, Buffer.alloc(length))));
  }

  // ───────────────────────── health ─────────────────────────

  /** The token's identity (label, model, manufacturer, serial). Throws HsmError when it is gone. */
  identity(): TokenIdentity {
    try {
      const info = this.module.C_GetTokenInfo(this.slot);
      return { label: trim(info.label), model: trim(info.model), manufacturer: trim(info.manufacturerID), serial: trim(info.serialNumber) };
    } catch (e) {
      throw toHsmError(e, 'C_GetTokenInfo');
    }
  }

  /**
   * Proves the token answers, the login holds, and (deep) that it can run AES-GCM: a session key
   * is generated, used and destroyed, touching no customer key. Throws HsmError otherwise.
   */
  async check(deep = false): Promise<void> {
    this.identity();
    if (!this.anchor || !this.anchorLoggedIn()) await this.recover();
    if (!deep) return;
    await this.run('health', async (s) => {
      const key = this.module.C_GenerateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_VALUE_LEN, value: 32 },
        { type: P.CKA_TOKEN, value: false },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_ENCRYPT, value: true },
        { type: P.CKA_DECRYPT, value: true },
      ]);
      try {
        const iv = this.profile.hsmGeneratedGcmIv ? Buffer.alloc(12) : randomBytes(12);
        const probe = Buffer.from('hsmkms health');
        this.module.C_EncryptInit(s, gcm(iv, Buffer.alloc(0)), key);
        const ct = Buffer.from(this.module.C_Encrypt(s, probe, Buffer.alloc(probe.length + 16)));
        this.module.C_DecryptInit(s, gcm(iv, Buffer.alloc(0)), key);
        const back = Buffer.from(this.module.C_Decrypt(s, ct, Buffer.alloc(ct.length)));
        if (!back.equals(probe)) throw hsmError('CKR_GENERAL_ERROR', 'health', 'device', 'The token decrypted the probe to something else.');
      } finally {
        try {
          this.module.C_DestroyObject(s, key);
        } catch {
          /* a session object: it goes with the session anyway */
        }
      }
    });
  }

  /** Closes every session this keyring opened (which logs out when no other code holds one). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    if (this.anchor) closeQuietly(this.module, this.anchor);
    this.anchor = undefined;
    this.keys.clear();
  }
}

/** A key that cannot be used: missing, not AES-256, ambiguous, or not allowed the operation. */
export class KeyringKeyError extends Error {
  override readonly name = 'KeyringKeyError';
  constructor(
    readonly reason: 'missing' | 'unsuitable' | 'ambiguous' | 'usage',
    message: string,
  ) {
    super(message);
  }
}

/** A CK_ULONG attribute value (4 or 8 bytes, little-endian on the platforms Node runs on). */
function ulong(value: Buffer): number {
  return value.length >= 8 ? Number(value.readBigUInt64LE()) : value.readUInt32LE();
}

function cacheKey(name: KeyName): string {
  return name.id ? `${name.label}\u0000${Buffer.from(name.id).toString('hex')}` : name.label;
}

/** CKM_AES_GCM with a 128-bit tag; the IV length (12 or 16 bytes) is the caller's. */
function gcm(iv: Buffer, aad: Buffer): Mechanism {
  return {
    mechanism: P.CKM_AES_GCM,
    parameter: { type: P.CK_PARAMS_AES_GCM_v240, iv, ivBits: iv.length * 8, aad, tagBits: 128 } as Mechanism['parameter'],
  };
}
