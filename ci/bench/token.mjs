// Raw pkcs11js access to a SoftHSM2 token for the benchmark baselines: session keys made here,
// the same mechanisms hsmkms uses (AES-256-GCM, RSA-2048 PKCS#1 v1.5 SHA-256, ECDSA P-256).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);
const pkcs11js = require('pkcs11js');

export function openToken() {
  const p = new pkcs11js.PKCS11();
  p.load(process.env.BENCH_MODULE);
  try {
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (!String(e.message).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e;
  }
  const slot = p
    .C_GetSlotList(true)
    .find((s) => p.C_GetTokenInfo(s).label.trim() === process.env.BENCH_TOKEN);
  if (slot === undefined) throw new Error(`token ${process.env.BENCH_TOKEN} not found`);
  const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    p.C_Login(session, pkcs11js.CKU_USER, readFileSync(process.env.BENCH_PIN_FILE, 'utf8').trim());
  } catch (e) {
    if (!String(e.message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw e;
  }
  const A = pkcs11js;
  return {
    aesKey() {
      return p.C_GenerateKey(session, { mechanism: A.CKM_AES_KEY_GEN }, [
        { type: A.CKA_TOKEN, value: false },
        { type: A.CKA_VALUE_LEN, value: 32 },
        { type: A.CKA_ENCRYPT, value: true },
        { type: A.CKA_DECRYPT, value: true },
        { type: A.CKA_SENSITIVE, value: true },
        { type: A.CKA_EXTRACTABLE, value: false },
      ]);
    },
    signingKey(kind) {
      const pub = [{ type: A.CKA_TOKEN, value: false }, { type: A.CKA_VERIFY, value: true }];
      const priv = [
        { type: A.CKA_TOKEN, value: false },
        { type: A.CKA_SIGN, value: true },
        { type: A.CKA_SENSITIVE, value: true },
        { type: A.CKA_EXTRACTABLE, value: false },
      ];
      if (kind === 'rsa') {
        pub.push({ type: A.CKA_MODULUS_BITS, value: 2048 }, { type: A.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
        return { kind, ...p.C_GenerateKeyPair(session, { mechanism: A.CKM_RSA_PKCS_KEY_PAIR_GEN }, pub, priv) };
      }
      // P-256 OID 1.2.840.10045.3.1.7
      pub.push({ type: A.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') });
      return { kind, ...p.C_GenerateKeyPair(session, { mechanism: A.CKM_EC_KEY_PAIR_GEN }, pub, priv) };
    },
    gcmEncrypt(key, data) {
      const params = { type: A.CK_PARAMS_GCM, iv: randomBytes(12), ivBits: 96, aad: Buffer.alloc(0), tagBits: 128 };
      p.C_EncryptInit(session, { mechanism: A.CKM_AES_GCM, parameter: params }, key);
      return Buffer.concat([params.iv, p.C_Encrypt(session, data, Buffer.alloc(data.length + 16))]);
    },
    /** Decrypts what gcmEncrypt returned (IV first). */
    gcmDecrypt(key, sealed) {
      const params = { type: A.CK_PARAMS_GCM, iv: sealed.subarray(0, 12), ivBits: 96, aad: Buffer.alloc(0), tagBits: 128 };
      p.C_DecryptInit(session, { mechanism: A.CKM_AES_GCM, parameter: params }, key);
      return p.C_Decrypt(session, sealed.subarray(12), Buffer.alloc(sealed.length));
    },
    sign(key, data) {
      if (key.kind === 'rsa') {
        p.C_SignInit(session, { mechanism: A.CKM_SHA256_RSA_PKCS }, key.privateKey);
        return p.C_Sign(session, data, Buffer.alloc(512));
      }
      // SoftHSM2 2.6 has no CKM_ECDSA_SHA256: hash here, sign the digest (as hsmkms does).
      p.C_SignInit(session, { mechanism: A.CKM_ECDSA }, key.privateKey);
      return p.C_Sign(session, createHash('sha256').update(data).digest(), Buffer.alloc(132));
    },
  };
}
