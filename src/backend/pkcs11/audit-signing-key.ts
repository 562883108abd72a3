/**
 * The audit key: an ECDSA P-384 key pair in the token that signs the audit trail's digests
 * (src/audit). The private key is persistent, private, sensitive, never extractable and can only
 * sign; the public key is kept in the token too, so the verification key can be exported at any
 * time. Like the domain and seal keys (token-keys.ts) it is found by label and created on first
 * use, and processes that raced to create it converge on the one with the smallest CKA_ID.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import { specInfo } from './key-specs.js';
import { ecdsaRawToDer, ecSpki } from './public-key.js';

const P = pkcs11js;
export const AUDIT_KEY_LABEL = 'hsmkms-audit-key';
const CURVE = specInfo('ECC_NIST_P384');

interface AuditKey {
  id: Buffer;
  privateKey: Handle;
  /** SubjectPublicKeyInfo, DER. */
  spki: Buffer;
}

/** Finds, creates and uses the audit key. Handles are cached until {@link AuditSigningKey.forget}. */
export class AuditSigningKey {
  private cached: AuditKey | undefined;

  constructor(private readonly raceWindowMs = 250) {}

  /** The verification key (SPKI DER), creating the key pair if the token has none. */
  async publicKey(module: PKCS11, session: Handle): Promise<Buffer> {
    return (await this.resolve(module, session)).spki;
  }

  /** ECDSA over SHA-384(payload) in the token, DER-encoded. */
  async sign(module: PKCS11, session: Handle, payload: Uint8Array): Promise<Buffer> {
    const key = await this.resolve(module, session);
    const digest = createHash('sha384').update(payload).digest();
    try {
      module.C_SignInit(session, { mechanism: P.CKM_ECDSA }, key.privateKey);
      // Always on the thread pool: a digest is rare, and must never stall the request path.
      const raw = await module.C_SignAsync(session, digest, Buffer.alloc(2 * CURVE.ecFieldBytes!));
      return ecdsaRawToDer(Buffer.from(raw));
    } catch (error) {
      // Token object handles can change after a failover: look the key up again next time.
      this.forget();
      throw error;
    }
  }

  /** Drops cached handles (after a session or device failure). */
  forget(): void {
    this.cached = undefined;
  }

  private async resolve(module: PKCS11, session: Handle): Promise<AuditKey> {
    if (this.cached) return this.cached;
    let found = findAuditKey(module, session);
    if (!found) {
      generate(module, session);
      // A process that raced us may have made one too: wait, look again, take the smallest id.
      await sleep(this.raceWindowMs);
      found = findAuditKey(module, session);
      if (!found) throw new Error('the audit key was generated but cannot be found in the token');
    }
    this.cached = found;
    return found;
  }
}

function findObjects(module: PKCS11, session: Handle, objectClass: number): Handle[] {
  module.C_FindObjectsInit(session, [
    { type: P.CKA_CLASS, value: objectClass },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_LABEL, value: AUDIT_KEY_LABEL },
  ]);
  try {
    return module.C_FindObjects(session, 64);
  } finally {
    module.C_FindObjectsFinal(session);
  }
}

function idOf(module: PKCS11, session: Handle, handle: Handle): string {
  const [id] = module.C_GetAttributeValue(session, handle, [{ type: P.CKA_ID }]);
  return id?.value ? Buffer.from(id.value).toString('hex') : '';
}

/** The audit key with the smallest CKA_ID that has both halves in the token. */
function findAuditKey(module: PKCS11, session: Handle): AuditKey | undefined {
  const publicKeys = new Map<string, Handle>();
  for (const h of findObjects(module, session, P.CKO_PUBLIC_KEY)) publicKeys.set(idOf(module, session, h), h);
  const pairs: Array<{ id: string; privateKey: Handle; publicKey: Handle }> = [];
  for (const h of findObjects(module, session, P.CKO_PRIVATE_KEY)) {
    const id = idOf(module, session, h);
    const publicKey = publicKeys.get(id);
    if (id !== '' && publicKey) pairs.push({ id, privateKey: h, publicKey });
  }
  pairs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const chosen = pairs[0];
  if (!chosen) return undefined;
  const [point] = module.C_GetAttributeValue(session, chosen.publicKey, [{ type: P.CKA_EC_POINT }]);
  return { id: Buffer.from(chosen.id, 'hex'), privateKey: chosen.privateKey, spki: ecSpki(point!.value, CURVE.jwkCurve!, CURVE.ecFieldBytes!) };
}

function generate(module: PKCS11, session: Handle): void {
  // Always a random CKA_ID: it tells racing keys apart, and CloudHSM insists on unique ids.
  const id = randomBytes(16);
  const common = [
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_LABEL, value: AUDIT_KEY_LABEL },
    { type: P.CKA_ID, value: id },
    { type: P.CKA_MODIFIABLE, value: false },
  ];
  module.C_GenerateKeyPair(
    session,
    { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    [...common, { type: P.CKA_PRIVATE, value: false }, { type: P.CKA_EC_PARAMS, value: CURVE.ecParams! }, { type: P.CKA_VERIFY, value: true }],
    [
      ...common,
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true },
      { type: P.CKA_EXTRACTABLE, value: false },
      { type: P.CKA_SIGN, value: true },
      { type: P.CKA_DECRYPT, value: false },
      { type: P.CKA_UNWRAP, value: false },
      { type: P.CKA_DERIVE, value: false },
    ],
  );
}
