/**
 * A token whose AES-256 keys are persistent token objects addressed by CKA_LABEL (and optionally
 * CKA_ID): the keys of a token-backed custom key store, and the keys hsmkms's XKS proxy serves
 * (the layout aws-kms-xks-proxy uses, so its keys work here unchanged).
 *
 * Unlike the default store (pkcs11-backend.ts), nothing is wrapped: the key objects live in the
 * token for good, sensitive and never extractable, so the token's owner can list and audit them
 * with pkcs11-tool. The keyring keeps its owner session (the anchor of the login) open for as
 * long as it is open: login state belongs to the application, and ends when the last session to
 * the token closes.
 *
 * Sessions, the login, failure judgement and recovery are session-runtime.ts's, as for the default
 * store; every Cryptoki call goes through {@link HsmCalls}. What is the keyring's own: which key
 * objects a label names (with a handle cache that recovery forgets), and that a login may have to
 * prove the PIN (`alreadyLoggedIn: 'refuse'`).
 *
 * A stale user PIN (SoftHSM2's copy of the token read before its PIN was set or while another
 * process rewrote it; see module.ts openOwnerSession) is recognised but never repaired here: that
 * needs C_Finalize, and the module is this process's — the default store's sessions and login, the
 * TLS engine's (which loads the same library from C++), the other keyrings' — so finalising it would
 * cut them all. The keyring refuses with {@link STALE_USER_PIN} and says to restart the process.
 */
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11, Template } from 'pkcs11js';
import type { HsmConfig } from '../../config/hsm.js';
import type { Logger } from '../../core/ports.js';
import { gcmDecrypt, gcmEncrypt, IvSource } from './aes-gcm.js';
import { HsmError, hsmError, toHsmError, type Blame } from './errors.js';
import { HsmCalls } from './hsm-calls.js';
import { tokenAesKeyTemplate } from './key-specs.js';
import { findTokenSlotWithRetries, loadModule, staleUserPin } from './module.js';
import { profileFor } from './profiles.js';
import { SessionPool } from './session-pool.js';
import { HANDLE_GONE, SessionRuntime } from './session-runtime.js';

const P = pkcs11js;
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

/** Where the keyring's token is; the PIN is asked for whenever a login is needed, never kept. */
export interface TokenKeyringConfig extends Omit<HsmConfig, 'pin'> {
  pin: () => Promise<string>;
  /** Sessions in the pool (default 4). */
  poolSize?: number;
  /** How long an HSM call made off the event loop may take (default 30 s). */
  callTimeoutMs?: number;
  /**
   * What a login that finds the token already logged in (by other code in this process) means:
   * `accept` (the default store's own token), or `refuse`, when the PIN itself must be proven.
   */
  alreadyLoggedIn?: 'accept' | 'refuse';
  logger?: Logger;
  /** As Pkcs11BackendConfig's: told when this keyring's object handles end. */
  onHandleEpochEnd?: (() => void) | undefined;
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
/** Session states with the user logged in: CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS. */
const USER_STATES: ReadonlySet<number> = new Set([1, 3]);
const KEY_CACHE_SIZE = 4096;
/** Other proxies' XKS ciphertexts may carry 16-byte IVs; ours are 12. */
const XKS_IV_LENGTHS = [12, 16] as const;
const trim = (s: string) => s.replace(/[\s\0]+$/, '');
/** Codes of one object that cannot be read (gone, or its attributes not all written yet), not of the session. */
const UNREADABLE_OBJECT: ReadonlySet<string> = new Set([...HANDLE_GONE, 'CKR_ATTRIBUTE_TYPE_INVALID']);

/**
 * A key that cannot be used: missing, not AES-256, ambiguous, or not allowed the operation. An
 * HsmError that recovers nothing (the session is fine), so it passes through run() as it is.
 */
export class KeyringKeyError extends HsmError {
  constructor(
    readonly reason: 'missing' | 'unsuitable' | 'ambiguous' | 'usage',
    message: string,
  ) {
    super(`ERR_KEY_${reason.toUpperCase()}`, 0, 'keyring', 'internal', message, 'none');
    this.name = 'KeyringKeyError';
  }
}

/** The code of a login refused because this process's copy of the token has a stale user PIN. */
export const STALE_USER_PIN = 'ERR_STALE_USER_PIN';

/** A label-addressed set of AES token keys in one token. Create with {@link TokenKeyring.open}. */
export class TokenKeyring extends SessionRuntime {
  private readonly keys = new Map<string, { handle: Handle; info: KeyObjectInfo }>();
  private readonly ivs = new IvSource();

  private constructor(
    module: PKCS11,
    calls: HsmCalls,
    slot: Handle,
    config: TokenKeyringConfig,
    pool: SessionPool,
    owner: Handle,
    private readonly pinSource: () => Promise<string>,
  ) {
    super(module, calls, slot, profileFor(config.profile), pool, (config.logger ?? SILENT).child({ component: 'pkcs11-keyring' }), owner);
  }

  /**
   * Loads the module, finds the token and logs in. Throws ConfigError when the module or the
   * token cannot be found, HsmError (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, …) when the login fails,
   * and HsmError CKR_USER_ALREADY_LOGGED_IN when `alreadyLoggedIn` is `refuse` and it is.
   */
  static async open(config: TokenKeyringConfig): Promise<TokenKeyring> {
    const module = loadModule(config.modulePath);
    const slot = await findTokenSlotWithRetries(module, config.token, profileFor(config.profile));
    const poolSize = config.poolSize ?? 4;
    const calls = new HsmCalls(module, config.modulePath, profileFor(config.profile), {
      timeoutMs: config.callTimeoutMs,
      threads: poolSize + 2,
      onNewEpoch: config.onHandleEpochEnd,
    });
    let owner: Handle;
    try {
      owner = await calls.call('C_OpenSession', slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    } catch (error) {
      await calls.close();
      throw toHsmError(error, 'C_OpenSession');
    }
    const keyring = new TokenKeyring(module, calls, slot, config, new SessionPool(calls, slot, poolSize), owner, config.pin);
    try {
      if (USER_STATES.has((await calls.call('C_GetSessionInfo', owner)).state)) {
        if ((config.alreadyLoggedIn ?? 'accept') === 'refuse')
          throw hsmError('CKR_USER_ALREADY_LOGGED_IN', 'C_Login', 'internal', 'The token is already logged in by other code in this process.');
      } else {
        await keyring.login(owner);
      }
    } catch (error) {
      await keyring.close();
      if (staleUserPin(module, slot, error))
        throw hsmError(
          STALE_USER_PIN,
          'C_Login',
          'unavailable',
          `The token "${config.token.label ?? config.token.serial}" refuses the login with CKR_USER_PIN_NOT_INITIALIZED while its flags say the user PIN is set: ` +
            'this process read the token before its user PIN was set or while another process was rewriting it, and keeps that copy until the PKCS#11 module ' +
            'is initialised again, which a running hsmkms does not do (it would end the sessions of everything else in the process that uses the module). ' +
            'Restart this hsmkms process.',
        );
      throw toHsmError(error, 'C_Login');
    }
    return keyring;
  }

  protected userPin(): Promise<string> {
    return this.pinSource();
  }

  /** The cached handles' epoch ends (handle-cache.ts): one still in use is refused, and looked up again. */
  protected override forgetHandles(): void {
    this.calls.newEpoch();
    this.keys.clear();
  }

  protected override async reloadKeys(): Promise<void> {
    // Key objects are looked up by label when next used.
    this.keys.clear();
  }

  // ───────────────────────── keys ─────────────────────────

  /**
   * Generates an AES-256 token object: private, sensitive, never extractable, usable for the
   * given operations only. Returns its CKA_ID (random, 16 bytes, unless given; every key object
   * has one, as CloudHSM requires).
   */
  async generateAesKey(label: string, usage: { encrypt: boolean; decrypt: boolean }, id: Buffer = randomBytes(16)): Promise<Buffer> {
    const template = tokenAesKeyTemplate(label, id, usage);
    await this.run('C_GenerateKey', (s) => this.calls.op('generate', 'C_GenerateKey', s, { mechanism: P.CKM_AES_KEY_GEN }, template));
    return id;
  }

  /** The key object's attributes; undefined when no object has this label (and id). */
  async describe(name: KeyName): Promise<KeyObjectInfo | undefined> {
    const found = await this.run('C_FindObjects', (s) => this.lookup(s, name));
    if (found === 'ambiguous') throw new KeyringKeyError('ambiguous', `Several key objects in the token are labelled "${name.label}".`);
    return found?.info;
  }

  /**
   * Every secret-key token object, for listing. An object that vanished after the search found it,
   * or whose attributes are not all there (SoftHSM2 writes a new object's file attribute by
   * attribute: another process may be creating it), is left out rather than failing the listing;
   * only while the session passes its test, so a session or device failure still fails it.
   */
  async list(): Promise<KeyObjectInfo[]> {
    return this.run('C_FindObjects', async (s) => {
      const handles = await this.calls.findObjects(s, [{ type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_TOKEN, value: true }], 10_000);
      const out: KeyObjectInfo[] = [];
      for (const h of handles) {
        try {
          out.push(await this.read(s, h));
        } catch (e) {
          const code = toHsmError(e, 'C_GetAttributeValue').code;
          if (!UNREADABLE_OBJECT.has(code) || (await this.probe(s)) !== 'ok') throw e;
          this.log.warn({ ckr: code }, 'a token object found while listing keys could not be read (it vanished, or another process is still writing it); it is not listed');
        }
      }
      return out;
    });
  }

  /** Destroys the key object; false when it is not there. */
  async destroy(name: KeyName): Promise<boolean> {
    return this.run('C_DestroyObject', async (s) => {
      const found = await this.lookup(s, name);
      if (!found || found === 'ambiguous') return false;
      this.keys.delete(cacheKey(name));
      await this.calls.call('C_DestroyObject', s, found.handle);
      return true;
    });
  }

  /**
   * AES-256-GCM encryption in the token with a 12-byte IV (ours, or the token's on tokens that
   * choose it). Returns the IV and the ciphertext followed by the 16-byte tag. Throws
   * KeyringKeyError when the key is missing or may not encrypt.
   */
  encrypt(name: KeyName, plaintext: Buffer, aad: Buffer): Promise<{ iv: Buffer; ciphertext: Buffer }> {
    return this.withKey('C_Encrypt', name, 'encrypt', (s, key) => gcmEncrypt(this.calls, this.profile, this.ivs, s, key, plaintext, aad));
  }

  /** AES-256-GCM decryption in the token. A tag that does not verify is an HsmError of kind `data`. */
  decrypt(name: KeyName, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    return this.withKey('C_Decrypt', name, 'decrypt', (s, key) => gcmDecrypt(this.calls, s, key, iv, ciphertext, aad, XKS_IV_LENGTHS), {
      callerInput: true,
      dataCodes: this.profile.badCiphertextCodes,
    });
  }

  /**
   * Runs `fn` with the key's handle after checking that the key may be used so. The key is looked
   * up inside the attempt: a handle that went stale (the object was deleted or re-created under
   * us) is judged like any (session-runtime.ts), the cache forgotten, and the retry looks again.
   */
  private async withKey<T>(name: string, key: KeyName, use: 'encrypt' | 'decrypt', fn: (s: Handle, key: Handle) => Promise<T> | T, blame?: Blame): Promise<T> {
    try {
      return await this.run(
        name,
        async (s) => {
          const found = await this.lookup(s, key);
          if (found === undefined) throw new KeyringKeyError('missing', `No AES key labelled "${key.label}" is in the token.`);
          if (found === 'ambiguous') throw new KeyringKeyError('ambiguous', `Several key objects in the token are labelled "${key.label}".`);
          if (!found.info.aes || found.info.length !== 32) throw new KeyringKeyError('unsuitable', `The key "${key.label}" is not an AES-256 key.`);
          if (!found.info.usage[use]) throw new KeyringKeyError('usage', `The key "${key.label}" may not ${use} (CKA_${use.toUpperCase()} is false).`);
          return fn(s, found.handle);
        },
        blame,
      );
    } catch (e) {
      if (e instanceof HsmError && e.code === 'CKR_KEY_FUNCTION_NOT_PERMITTED') {
        this.keys.delete(cacheKey(key));
        throw new KeyringKeyError('usage', `The token refused to ${use} with "${key.label}".`);
      }
      throw e;
    }
  }

  /** Finds a key object by label (and id), through a cache of handles. */
  private async lookup(session: Handle, name: KeyName): Promise<{ handle: Handle; info: KeyObjectInfo } | 'ambiguous' | undefined> {
    const id = cacheKey(name);
    const cached = this.keys.get(id);
    if (cached) return cached;
    const template: Template = [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_LABEL, value: name.label },
    ];
    if (name.id) template.push({ type: P.CKA_ID, value: Buffer.from(name.id) });
    const epoch = this.calls.epoch;
    const handles = await this.calls.findObjects(session, template, 2);
    if (handles.length === 0) return undefined;
    if (handles.length > 1) return 'ambiguous';
    this.calls.stamp(handles[0]!, epoch);
    const entry = { handle: handles[0]!, info: await this.read(session, handles[0]!) };
    if (this.keys.size >= KEY_CACHE_SIZE) this.keys.clear();
    // Not cached when the epoch ended meanwhile: the handle would be refused at every use.
    if (epoch === this.calls.epoch) this.keys.set(id, entry);
    return entry;
  }

  private async read(session: Handle, handle: Handle): Promise<KeyObjectInfo> {
    const [label, id, keyType] = await this.calls.call('C_GetAttributeValue', session, handle, [{ type: P.CKA_LABEL }, { type: P.CKA_ID }, { type: P.CKA_KEY_TYPE }]);
    const aes = ulong(keyType!.value as Buffer) === P.CKK_AES;
    let length = 0;
    if (aes) {
      const [len] = await this.calls.call('C_GetAttributeValue', session, handle, [{ type: P.CKA_VALUE_LEN }]);
      length = ulong(len!.value as Buffer);
    }
    const flags: boolean[] = [];
    for (const type of USAGE_ATTRIBUTES) {
      try {
        const [attribute] = await this.calls.call('C_GetAttributeValue', session, handle, [{ type }]);
        flags.push((attribute!.value as Buffer)[0] === 1);
      } catch {
        flags.push(false);
      }
    }
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
    return this.run('C_GenerateRandom', async (s) => Buffer.from(await this.calls.call('C_GenerateRandom', s, Buffer.alloc(length))));
  }

  // ───────────────────────── health ─────────────────────────

  /** The token's identity (label, model, manufacturer, serial). Throws HsmError when it is gone. */
  async identity(): Promise<TokenIdentity> {
    try {
      const info = await this.calls.call('C_GetTokenInfo', this.slot);
      return { label: trim(info.label), model: trim(info.model), manufacturer: trim(info.manufacturerID), serial: trim(info.serialNumber) };
    } catch (e) {
      throw toHsmError(e, 'C_GetTokenInfo');
    }
  }

  /**
   * Proves the token answers, the login holds (logging in again when it was lost, so a wrong PIN
   * shows here), and (deep) that it can run AES-GCM: a session key is generated, used and
   * destroyed, touching no customer key. Throws HsmError otherwise.
   */
  async check(deep = false): Promise<void> {
    await this.identity();
    const owner = await this.probe(this.owner);
    if (owner !== 'ok') await this.recover(this.ownerRecovery(owner));
    if (!deep) return;
    await this.run('health', async (s) => {
      const key = await this.calls.op('generate', 'C_GenerateKey', s, { mechanism: P.CKM_AES_KEY_GEN }, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_VALUE_LEN, value: 32 },
        { type: P.CKA_TOKEN, value: false },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_ENCRYPT, value: true },
        { type: P.CKA_DECRYPT, value: true },
        ...(this.profile.uniqueKeyIds ? [{ type: P.CKA_ID, value: randomBytes(16) }] : []),
      ]);
      try {
        const probe = Buffer.from('hsmkms health');
        const { iv, ciphertext } = await gcmEncrypt(this.calls, this.profile, this.ivs, s, key, probe, Buffer.alloc(0));
        const back = Buffer.from(await gcmDecrypt(this.calls, s, key, iv, ciphertext, Buffer.alloc(0)));
        if (!back.equals(probe)) throw hsmError('CKR_GENERAL_ERROR', 'health', 'unavailable', 'The token decrypted the probe to something else.');
      } finally {
        // A session object: it goes with the session anyway.
        await this.destroyQuietly(s, key);
      }
    });
  }
}

/** A CK_ULONG attribute value (4 or 8 bytes, little-endian on the platforms Node runs on). */
function ulong(value: Buffer): number {
  return value.length >= 8 ? Number(value.readBigUInt64LE()) : value.readUInt32LE();
}

function cacheKey(name: KeyName): string {
  return name.id ? `${name.label}\u0000${Buffer.from(name.id).toString('hex')}` : name.label;
}
