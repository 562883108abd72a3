/**
 * The audit key: an ECDSA P-384 key pair in the token that signs the audit trail's digests
 * (src/audit). The private key is persistent, private, sensitive, never extractable and can only
 * sign; the public key is kept in the token too, so the verification key can be exported at any
 * time. Like the domain and seal keys (token-keys.ts) it is found by label and created on first
 * use, and processes that raced to create it converge on the one with the smallest CKA_ID.
 *
 * Every call goes through the backend's {@link HsmCalls}, which decides (from the profile) what
 * runs on the event loop; failures are HsmErrors that the backend's run() judges and recovers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { hsmError, toHsmError } from './errors.js';
import type { HsmCalls } from './hsm-calls.js';
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
  async publicKey(calls: HsmCalls, session: Handle): Promise<Buffer> {
    return (await this.resolve(calls, session)).spki;
  }

  /** ECDSA over SHA-384(payload) in the token, DER-encoded. */
  async sign(calls: HsmCalls, session: Handle, payload: Uint8Array): Promise<Buffer> {
    const key = await this.resolve(calls, session);
    const digest = createHash('sha384').update(payload).digest();
    try {
      const raw = await calls.initAndRun(
        CURVE.callKind,
        ['C_SignInit', session, { mechanism: P.CKM_ECDSA }, key.privateKey],
        ['C_Sign', session, digest, Buffer.alloc(2 * CURVE.ecFieldBytes!)],
      );
      return ecdsaRawToDer(Buffer.from(raw));
    } catch (error) {
      // Token object handles can change after a failover: look the key up again next time.
      this.forget();
      throw error;
    }
  }

  /** Drops cached handles (after a failed signature, and whenever the backend reloads its token keys). */
  forget(): void {
    this.cached = undefined;
  }

  private async resolve(calls: HsmCalls, session: Handle): Promise<AuditKey> {
    if (this.cached) return this.cached;
    // Stamped with the epoch it was found in, like the runtime's other token keys (token-keys.ts).
    const epoch = calls.epoch;
    let found = await findAuditKey(calls, session);
    if (!found) {
      await generate(calls, session);
      // A process that raced us may have made one too: wait, look again, take the smallest id.
      await sleep(this.raceWindowMs);
      found = await findAuditKey(calls, session);
      if (!found) throw hsmError('ERR_AUDIT_KEY_MISSING', 'C_FindObjects', 'internal', 'The audit key was generated but cannot be found in the token.');
    }
    calls.stamp(found.privateKey, epoch);
    this.cached = found;
    return found;
  }
}

function findObjects(calls: HsmCalls, session: Handle, objectClass: number): Promise<Handle[]> {
  const template = [
    { type: P.CKA_CLASS, value: objectClass },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_LABEL, value: AUDIT_KEY_LABEL },
  ];
  return calls.findObjects(session, template, 64);
}

async function idOf(calls: HsmCalls, session: Handle, handle: Handle): Promise<string> {
  const [id] = await calls.call('C_GetAttributeValue', session, handle, [{ type: P.CKA_ID }]);
  return Buffer.isBuffer(id?.value) ? id.value.toString('hex') : '';
}

/** The audit key with the smallest CKA_ID that has both halves in the token. */
async function findAuditKey(calls: HsmCalls, session: Handle): Promise<AuditKey | undefined> {
  const publicKeys = new Map<string, Handle>();
  for (const h of await findObjects(calls, session, P.CKO_PUBLIC_KEY)) publicKeys.set(await idOf(calls, session, h), h);
  const pairs: Array<{ id: string; privateKey: Handle; publicKey: Handle }> = [];
  for (const h of await findObjects(calls, session, P.CKO_PRIVATE_KEY)) {
    const id = await idOf(calls, session, h);
    const publicKey = publicKeys.get(id);
    if (id !== '' && publicKey) pairs.push({ id, privateKey: h, publicKey });
  }
  pairs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const chosen = pairs[0];
  if (!chosen) return undefined;
  const [point] = await calls.call('C_GetAttributeValue', session, chosen.publicKey, [{ type: P.CKA_EC_POINT }]);
  if (!Buffer.isBuffer(point?.value)) throw hsmError('ERR_AUDIT_KEY_MISSING', 'C_GetAttributeValue', 'internal', 'The audit public key has no CKA_EC_POINT.');
  return { id: Buffer.from(chosen.id, 'hex'), privateKey: chosen.privateKey, spki: ecSpki(point.value, CURVE.jwkCurve!, CURVE.ecFieldBytes!) };
}

async function generate(calls: HsmCalls, session: Handle): Promise<void> {
  // Always a random CKA_ID: it tells racing keys apart, and CloudHSM insists on unique ids.
  const id = randomBytes(16);
  const common = [
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_LABEL, value: AUDIT_KEY_LABEL },
    { type: P.CKA_ID, value: id },
    { type: P.CKA_MODIFIABLE, value: false },
  ];
  try {
    await calls.op(
      'generate',
      'C_GenerateKeyPair',
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
  } catch (e) {
    throw toHsmError(e, 'C_GenerateKeyPair');
  }
}
