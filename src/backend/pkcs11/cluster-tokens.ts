/**
 * The HSM tokens that token-backed custom key stores (AWS_CLOUDHSM) connect to, called clusters
 * as in AWS. A cluster is configured as `ID=MODULE_PATH:TOKEN_LABEL` or `ID=pkcs11:token=…?module-path=…`;
 * with the embedded SoftHSM2 every other token in its directory is a cluster named by its label.
 *
 * Connecting logs in with the key store's password (the token's user PIN). What goes wrong is
 * reported with AWS's ConnectionErrorCode: a wrong PIN is INVALID_CREDENTIALS, a token that is
 * not there CLUSTER_NOT_FOUND, a locked PIN USER_LOCKED_OUT, and so on.
 */
import { ConfigError, type HsmConfig, type PinSource } from '../../config/hsm.js';
import type { ConnectionErrorCode } from '../../core/key-stores/model.js';
import {
  KeyStoreConnectionError,
  KeyStoreKeyMissingError,
  type ClusterConnection,
  type ClusterTokens,
  type TokenKeyRef,
} from '../../core/key-stores/ports.js';
import type { SymmetricCiphertext } from '../../core/ports.js';
import { HsmError } from './errors.js';
import { loadModule } from './module.js';
import { detectProfile } from './profiles.js';
import { parseTokenKeyReference, writeTokenKeyReference } from './token-key-reference.js';
import { KeyringKeyError, STALE_USER_PIN, TokenKeyring } from './token-keyring.js';
import { parsePkcs11Uri, pinSourceFromUri } from './uri.js';

/**
 * A configured cluster: an id and the token it names. `pin` only when its pkcs11: URI has a
 * pin-source (for serving XKS keys from it; key stores get their password through the API).
 */
export type ClusterConfig = Omit<HsmConfig, 'pin'> & { id: string; pin?: PinSource | undefined };

/** Cluster ids are token labels: 1–32 bytes of printable characters. */
const CLUSTER_ID = /^[\x21-\x7e](?:[\x20-\x7e]{0,30}[\x21-\x7e])?$/;

/**
 * Parses `ID=MODULE_PATH:TOKEN_LABEL` (the module path ends at the first colon) or
 * `ID=pkcs11:token=LABEL;serial=…?module-path=/path` (RFC 7512). Throws ConfigError.
 */
export function parseClusterSpec(spec: string): ClusterConfig {
  const eq = spec.indexOf('=');
  const id = eq < 0 ? '' : spec.slice(0, eq);
  const target = spec.slice(eq + 1);
  if (!CLUSTER_ID.test(id) || Buffer.byteLength(id) > 32)
    throw new ConfigError(`--cluster wants ID=MODULE_PATH:TOKEN_LABEL with an ID of 1–32 printable characters, got '${spec.slice(0, 80)}'.`);
  if (/^pkcs11:/i.test(target)) {
    const uri = parsePkcs11Uri(target);
    if (!uri.modulePath) throw new ConfigError(`--cluster ${id}: the pkcs11: URI needs module-path=/path/to/module.so.`);
    if (!uri.token && !uri.serial) throw new ConfigError(`--cluster ${id}: the pkcs11: URI needs token=LABEL or serial=SERIAL.`);
    const pin = uri.pinSource ? pinSourceFromUri(uri.pinSource) : undefined;
    return { id, modulePath: uri.modulePath, token: { label: uri.token, serial: uri.serial }, profile: detectProfile(uri.modulePath), ...(pin ? { pin } : {}) };
  }
  const colon = target.indexOf(':');
  const modulePath = colon < 0 ? '' : target.slice(0, colon);
  const label = colon < 0 ? '' : target.slice(colon + 1);
  if (!modulePath.startsWith('/') || label === '')
    throw new ConfigError(`--cluster ${id}: give the module's absolute path and the token label as MODULE_PATH:TOKEN_LABEL.`);
  return { id, modulePath, token: { label }, profile: detectProfile(modulePath) };
}

/** Parses `HSMKMS_CLUSTERS`: specs separated by commas or newlines. */
export function parseClusterList(value: string | undefined): ClusterConfig[] {
  return (value ?? '')
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseClusterSpec);
}

export interface ClusterTokensOptions {
  /** Clusters named on the command line or in HSMKMS_CLUSTERS. */
  configured: ClusterConfig[];
  /** The embedded SoftHSM2: every initialised token in it other than the default one. */
  embedded?: { modulePath: string } | undefined;
  /** The default store's token, which no key store may use. */
  defaultToken: HsmConfig;
  /** Clusters no key store may use: the one holding the XKS proxy's keys. */
  reserved?: readonly string[] | undefined;
  /** How long an HSM call made off the event loop may take (`--hsm-call-timeout`; default 30 s), as for the default token. */
  callTimeoutMs?: number | undefined;
}

/** {@link ClusterTokens} over PKCS#11 modules. */
export class Pkcs11ClusterTokens implements ClusterTokens {
  private readonly configured: Map<string, ClusterConfig>;
  /** Tokens no key store may use, whatever id names them (the XKS proxy's). */
  private readonly reservedTokens: ClusterConfig[] = [];

  constructor(private readonly options: ClusterTokensOptions) {
    this.configured = new Map();
    for (const cluster of options.configured) {
      if (this.configured.has(cluster.id)) throw new ConfigError(`The cluster id ${cluster.id} is configured twice.`);
      if (isSameToken(cluster, options.defaultToken))
        throw new ConfigError(`The cluster ${cluster.id} is the token the default key store uses; a custom key store needs a token of its own.`);
      this.configured.set(cluster.id, cluster);
    }
    // A reserved token stays reserved under any other id naming it: a key store's keys in it
    // would be served to XKS callers by their labels (the KMS key ids).
    for (const id of options.reserved ?? []) {
      const token = this.configured.get(id) ?? (options.embedded ? { id, modulePath: options.embedded.modulePath, token: { label: id }, profile: 'softhsm2' as const } : undefined);
      if (token) this.reservedTokens.push(token);
    }
    for (const cluster of this.configured.values()) {
      const reserved = this.reservedTokens.find((t) => t.id !== cluster.id && isSameToken(cluster, t));
      if (reserved)
        throw new ConfigError(`The cluster ${cluster.id} is the token of the cluster ${reserved.id}, which serves the XKS proxy's keys; a custom key store needs a token of its own.`);
    }
  }

  async list(): Promise<string[]> {
    const reserved = new Set(this.options.reserved ?? []);
    return [...new Set([...this.configured.keys(), ...this.embeddedLabels()])].filter((id) => !reserved.has(id)).sort();
  }

  async has(clusterId: string): Promise<boolean> {
    return this.resolve(clusterId) !== undefined;
  }

  async connect(clusterId: string, password: () => Promise<string>): Promise<ClusterConnection> {
    const cluster = this.resolve(clusterId);
    if (!cluster) throw new KeyStoreConnectionError('CLUSTER_NOT_FOUND', `No cluster ${clusterId} is configured on this server.`);
    try {
      const { callTimeoutMs } = this.options;
      const keyring = await TokenKeyring.open({ ...cluster, pin: password, alreadyLoggedIn: 'refuse', ...(callTimeoutMs !== undefined ? { callTimeoutMs } : {}) });
      return new Pkcs11ClusterConnection(clusterId, keyring);
    } catch (error) {
      throw toConnectionError(error, clusterId);
    }
  }

  private resolve(clusterId: string): ClusterConfig | undefined {
    if (this.options.reserved?.includes(clusterId)) return undefined;
    const configured = this.configured.get(clusterId);
    if (configured) return configured;
    const embedded = this.options.embedded;
    if (!embedded || !this.embeddedLabels().includes(clusterId)) return undefined;
    return { id: clusterId, modulePath: embedded.modulePath, token: { label: clusterId }, profile: 'softhsm2' };
  }

  /** Labels of the embedded SoftHSM2's initialised tokens, except the default store's. */
  private embeddedLabels(): string[] {
    const embedded = this.options.embedded;
    if (!embedded) return [];
    const module = loadModule(embedded.modulePath);
    const labels: string[] = [];
    let slots: ReturnType<typeof module.C_GetSlotList>;
    try {
      slots = module.C_GetSlotList(true);
    } catch {
      // SoftHSM2 fails the slot list for good once a token's files were removed under it.
      return labels;
    }
    for (const slot of slots) {
      try {
        const label = module.C_GetTokenInfo(slot).label.replace(/[\s\0]+$/, '');
        if (label !== '' && label !== this.options.defaultToken.token.label && !this.reservedTokens.some((t) => t.modulePath === embedded.modulePath && t.token.label === label))
          labels.push(label);
      } catch {
        /* a token that vanished: not a cluster */
      }
    }
    return labels;
  }
}

function isSameToken(cluster: ClusterConfig, token: Pick<HsmConfig, 'modulePath' | 'token'>): boolean {
  if (cluster.modulePath !== token.modulePath) return false;
  if (cluster.token.serial && token.token.serial) return cluster.token.serial === token.token.serial;
  return cluster.token.label !== undefined && cluster.token.label === token.token.label;
}

/** Return codes and what AWS calls them when connecting a CloudHSM key store. */
const CONNECTION_CODES: Readonly<Record<string, ConnectionErrorCode>> = {
  CKR_PIN_INCORRECT: 'INVALID_CREDENTIALS',
  CKR_PIN_INVALID: 'INVALID_CREDENTIALS',
  CKR_PIN_LEN_RANGE: 'INVALID_CREDENTIALS',
  CKR_PIN_EXPIRED: 'INVALID_CREDENTIALS',
  CKR_PIN_LOCKED: 'USER_LOCKED_OUT',
  CKR_USER_PIN_NOT_INITIALIZED: 'USER_NOT_FOUND',
  CKR_USER_ALREADY_LOGGED_IN: 'USER_LOGGED_IN',
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN: 'USER_LOGGED_IN',
  CKR_TOKEN_NOT_PRESENT: 'CLUSTER_NOT_FOUND',
  CKR_TOKEN_NOT_RECOGNIZED: 'CLUSTER_NOT_FOUND',
  CKR_DEVICE_REMOVED: 'CLUSTER_NOT_FOUND',
  CKR_SLOT_ID_INVALID: 'CLUSTER_NOT_FOUND',
  CKR_DEVICE_ERROR: 'NETWORK_ERRORS',
  CKR_FUNCTION_FAILED: 'NETWORK_ERRORS',
};

/** What went wrong with a cluster, as a KeyStoreConnectionError (the message never holds the PIN). */
export function toConnectionError(error: unknown, clusterId: string): KeyStoreConnectionError {
  if (error instanceof KeyStoreConnectionError) return error;
  if (error instanceof ConfigError) return new KeyStoreConnectionError('CLUSTER_NOT_FOUND', `Cluster ${clusterId}: ${error.message}`);
  if (error instanceof HsmError) {
    // SoftHSM2 answers CKR_GENERAL_ERROR for a token whose files were removed.
    const code = error.fn === 'C_GetTokenInfo' ? 'CLUSTER_NOT_FOUND' : (CONNECTION_CODES[error.code] ?? 'INTERNAL_ERROR');
    // A stale user PIN: what to do is in the message (restart), not in the code.
    if (error.code === STALE_USER_PIN) return new KeyStoreConnectionError('INTERNAL_ERROR', `Cluster ${clusterId}: ${error.message}`);
    return new KeyStoreConnectionError(code, `Cluster ${clusterId}: ${error.fn} failed (${error.code}).`);
  }
  return new KeyStoreConnectionError('INTERNAL_ERROR', `Cluster ${clusterId}: ${error instanceof Error ? error.message : String(error)}`);
}

/** A connected cluster: its keys are AES-256 token objects labelled with their KMS key ids. */
class Pkcs11ClusterConnection implements ClusterConnection {
  constructor(
    private readonly clusterId: string,
    private readonly keyring: TokenKeyring,
  ) {}

  async createKey(label: string): Promise<Buffer> {
    return writeTokenKeyReference(await this.keyring.generateAesKey(label, { encrypt: true, decrypt: true }));
  }

  async encrypt(key: TokenKeyRef, plaintext: Uint8Array, aad: Uint8Array): Promise<SymmetricCiphertext> {
    return missingAsKeyStoreError(() => this.keyring.encrypt(nameOf(key), view(plaintext), view(aad)));
  }

  async decrypt(key: TokenKeyRef, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return missingAsKeyStoreError(() => this.keyring.decrypt(nameOf(key), view(iv), view(ciphertext), view(aad)));
  }

  destroyKey(key: TokenKeyRef): Promise<boolean> {
    return this.keyring.destroy(nameOf(key));
  }

  generateRandom(length: number): Promise<Buffer> {
    return this.keyring.generateRandom(length);
  }

  async check(): Promise<ConnectionErrorCode | undefined> {
    try {
      await this.keyring.check();
      return undefined;
    } catch (error) {
      return toConnectionError(error, this.clusterId).code;
    }
  }

  close(): Promise<void> {
    return this.keyring.close();
  }
}

function nameOf(key: TokenKeyRef): { label: string; id: Buffer } {
  return { label: key.label, id: parseTokenKeyReference(key.reference).id };
}

async function missingAsKeyStoreError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof KeyringKeyError) throw new KeyStoreKeyMissingError(error.message);
    throw error;
  }
}

function view(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
