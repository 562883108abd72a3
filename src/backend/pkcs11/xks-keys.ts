/**
 * The keys hsmkms's XKS proxy serves: AES-256 token objects whose CKA_LABEL is the external
 * key id, the layout aws-kms-xks-proxy uses, so keys made for it (or with pkcs11-tool) work as
 * they are. Usage comes from the objects' CKA_ENCRYPT / CKA_DECRYPT (and the other usage flags
 * for GetKeyMetadata).
 */
import { HsmError } from './errors.js';
import { XksKeyError, type XksKeyInfo, type XksKeys, type XksKeyUsage } from '../../xks/service.js';
import { KeyringKeyError, TokenKeyring, type KeyObjectInfo, type TokenKeyringConfig } from './token-keyring.js';
import { TOKEN_KEY_LABELS } from './token-keys.js';

/**
 * hsmkms's own token keys (the domain and seal keys) share the default token with the XKS keys;
 * no XKS request may reach them, whatever label it names.
 */
const RESERVED: ReadonlySet<string> = new Set(Object.values(TOKEN_KEY_LABELS));

function reservedAsMissing(keyId: string): void {
  if (RESERVED.has(keyId)) throw new XksKeyError('missing', `${keyId} is not an XKS key.`);
}

export class TokenXksKeys implements XksKeys {
  private constructor(private readonly keyring: TokenKeyring) {}

  /** Opens the token that holds the XKS keys (the default store's own token, usually). */
  static async open(config: TokenKeyringConfig): Promise<TokenXksKeys> {
    return new TokenXksKeys(await TokenKeyring.open(config));
  }

  async describe(keyId: string): Promise<XksKeyInfo | undefined> {
    if (RESERVED.has(keyId)) return undefined;
    const info = await this.keyring.describe({ label: keyId }).catch(asKeyError);
    if (!info || !info.aes) return undefined;
    return { aesBytes: info.length, usage: usageOf(info) };
  }

  async encrypt(keyId: string, plaintext: Buffer, aad: Buffer): Promise<{ iv: Buffer; ciphertext: Buffer; tag: Buffer }> {
    reservedAsMissing(keyId);
    const { iv, ciphertext } = await this.keyring.encrypt({ label: keyId }, plaintext, aad).catch(asKeyError);
    return { iv, ciphertext: ciphertext.subarray(0, ciphertext.length - 16), tag: ciphertext.subarray(ciphertext.length - 16) };
  }

  async decrypt(keyId: string, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Promise<Buffer> {
    reservedAsMissing(keyId);
    return this.keyring.decrypt({ label: keyId }, iv, Buffer.concat([ciphertext, tag]), aad).catch(asKeyError);
  }

  async health(): Promise<Array<{ id: string; model: string; vendor: string; healthStatus: 'ACTIVE' | 'DEGRADED' | 'UNAVAILABLE' }>> {
    let identity: Awaited<ReturnType<TokenKeyring['identity']>> | undefined;
    try {
      identity = await this.keyring.identity();
      await this.keyring.check(true);
      return [{ id: identity.serial || identity.label, model: `${identity.manufacturer} ${identity.model}`.trim(), vendor: identity.manufacturer, healthStatus: 'ACTIVE' }];
    } catch (error) {
      const reason = error instanceof HsmError ? error.code : String(error);
      return [
        {
          id: identity?.serial || identity?.label || 'hsm',
          model: identity ? `${identity.manufacturer} ${identity.model}`.trim() : `unavailable (${reason})`,
          vendor: identity?.manufacturer ?? 'unknown',
          healthStatus: 'UNAVAILABLE',
        },
      ];
    }
  }

  /** Every secret-key object in the token, for `hsmkms xks key list`. */
  async list(): Promise<KeyObjectInfo[]> {
    return (await this.keyring.list()).filter((info) => !RESERVED.has(info.label));
  }

  /** Creates an AES-256 token object labelled `keyId` (sensitive, never extractable). */
  async create(keyId: string, usage: { encrypt: boolean; decrypt: boolean }): Promise<void> {
    if (RESERVED.has(keyId)) throw new XksKeyError('unsuitable', `${keyId} is the label of one of hsmkms's own keys.`);
    if (await this.keyring.describe({ label: keyId }).catch(() => 'ambiguous')) throw new XksKeyError('unsuitable', `A key labelled ${keyId} is already in the token.`);
    await this.keyring.generateAesKey(keyId, usage);
  }

  close(): Promise<void> {
    return this.keyring.close();
  }
}

const USAGES: ReadonlyArray<[keyof KeyObjectInfo['usage'], XksKeyUsage]> = [
  ['encrypt', 'ENCRYPT'],
  ['decrypt', 'DECRYPT'],
  ['sign', 'SIGN'],
  ['verify', 'VERIFY'],
  ['wrap', 'WRAP'],
  ['unwrap', 'UNWRAP'],
  ['derive', 'DERIVE'],
];

function usageOf(info: KeyObjectInfo): XksKeyUsage[] {
  return USAGES.filter(([flag]) => info.usage[flag]).map(([, name]) => name);
}

function asKeyError(error: unknown): never {
  if (error instanceof KeyringKeyError) throw new XksKeyError(error.reason === 'ambiguous' ? 'unsuitable' : error.reason, error.message);
  throw error;
}
