#include "engine.h"

#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <mutex>

#include "errors.h"
#include "key-uri.h"
#include "signing.h"
#include "token-registry.h"

// Why two layers for RSA: the RSA_METHOD marks the key as "foreign", which keeps OpenSSL 3 on
// its legacy path (otherwise it would export the key to the default provider, which has no
// private half) and signs PKCS#1 v1.5. The EVP_PKEY_METHOD sees the whole signing context,
// so RSA-PSS reaches the token as CKM_RSA_PKCS_PSS with its hash, MGF1 and salt, instead of
// as OpenSSL-padded raw RSA.

namespace hsmkms {
namespace {

int rsaIndex = -1, ecIndex = -1;
RSA_METHOD* rsaMethod = nullptr;
EC_KEY_METHOD* ecMethod = nullptr;
EVP_PKEY_METHOD* rsaPkeyMethod = nullptr;
int (*defaultRsaPkeySign)(EVP_PKEY_CTX*, unsigned char*, size_t*, const unsigned char*, size_t) = nullptr;

using KeyRef = std::shared_ptr<TokenKey>;

void FreeKeyRef(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<KeyRef*>(ptr); }

int DupKeyRef(CRYPTO_EX_DATA*, const CRYPTO_EX_DATA*, void** ptr, int, long, void*) {
  if (*ptr != nullptr) *ptr = new KeyRef(*static_cast<KeyRef*>(*ptr));
  return 1;
}

TokenKey* KeyOf(const RSA* rsa) {
  auto* ref = static_cast<KeyRef*>(RSA_get_ex_data(rsa, rsaIndex));
  return ref ? ref->get() : nullptr;
}

TokenKey* KeyOf(const EC_KEY* ec) {
  auto* ref = static_cast<KeyRef*>(EC_KEY_get_ex_data(ec, ecIndex));
  return ref ? ref->get() : nullptr;
}

/**
 * Failures inside OpenSSL callbacks become OpenSSL errors; Node reports them for the handshake
 * with a code from the reason: ERR_SSL_INTERRUPTED_OR_CANCELLED for a signature the HSM did not
 * answer in time (ERR_HSM_TIMEOUT), ERR_SSL_OPERATION_FAIL for any other (src/tls/errors.ts).
 */
void RaiseOpenSslError(const char* what, int reason = ERR_R_OPERATION_FAIL) {
  ERR_new();
  ERR_set_debug(__FILE__, __LINE__, "hsmkms");
  ERR_set_error(ERR_LIB_USER, reason, "%s", what);
}

/** The exception being handled as an OpenSSL error; call inside a catch block. */
void RaiseCaughtError() {
  try {
    throw;
  } catch (const HsmError& e) {
    RaiseOpenSslError(e.what(), e.code() == "ERR_HSM_TIMEOUT" ? ERR_R_INTERRUPTED_OR_CANCELLED : ERR_R_OPERATION_FAIL);
  } catch (const std::exception& e) {
    RaiseOpenSslError(e.what());
  }
}

int RsaSign(int type, const unsigned char* m, unsigned int length, unsigned char* sigret, unsigned int* siglen, const RSA* rsa) {
  TokenKey* key = KeyOf(rsa);
  if (key == nullptr) return 0;
  try {
    Bytes signature = SignRsaPkcs1(*key, type, m, length);
    if (signature.size() > static_cast<size_t>(RSA_size(rsa))) Fail("ERR_SIGNATURE_SIZE", "The token returned an oversized RSA signature.");
    std::copy(signature.begin(), signature.end(), sigret);
    *siglen = static_cast<unsigned int>(signature.size());
    return 1;
  } catch (const std::exception&) {
    RaiseCaughtError();
    return 0;
  }
}

int RsaPrivateEncrypt(int flen, const unsigned char* from, unsigned char* to, RSA* rsa, int padding) {
  TokenKey* key = KeyOf(rsa);
  if (key == nullptr) return -1;
  if (padding != RSA_PKCS1_PADDING) {
    RaiseOpenSslError("Raw RSA with an HSM key is not offered; use PKCS#1 v1.5 or PSS signatures.");
    return -1;
  }
  try {
    Bytes signature = SignRsaPkcs1(*key, NID_md5_sha1, from, flen);  // the input is already a DigestInfo
    // `to` holds RSA_size(rsa) bytes.
    if (signature.size() > static_cast<size_t>(RSA_size(rsa))) Fail("ERR_SIGNATURE_SIZE", "The token returned an oversized RSA signature.");
    std::copy(signature.begin(), signature.end(), to);
    return static_cast<int>(signature.size());
  } catch (const std::exception&) {
    RaiseCaughtError();
    return -1;
  }
}

int RsaPrivateDecrypt(int, const unsigned char*, unsigned char*, RSA*, int) {
  // TLS 1.2 RSA key exchange is not offered: it lacks forward secrecy; ECDHE-RSA suites sign.
  RaiseOpenSslError("RSA decryption with an HSM key is not offered (no RSA key exchange; use ECDHE).");
  return -1;
}

int PkeyRsaSign(EVP_PKEY_CTX* ctx, unsigned char* sig, size_t* siglen, const unsigned char* tbs, size_t tbslen) {
  EVP_PKEY* pkey = EVP_PKEY_CTX_get0_pkey(ctx);
  const RSA* rsa = pkey != nullptr ? EVP_PKEY_get0_RSA(pkey) : nullptr;
  TokenKey* key = rsa != nullptr ? KeyOf(rsa) : nullptr;
  int padding = 0;
  if (key == nullptr || EVP_PKEY_CTX_get_rsa_padding(ctx, &padding) <= 0 || padding != RSA_PKCS1_PSS_PADDING)
    return defaultRsaPkeySign(ctx, sig, siglen, tbs, tbslen);
  size_t size = static_cast<size_t>(RSA_size(rsa));
  if (sig == nullptr) {
    *siglen = size;
    return 1;
  }
  const EVP_MD* md = nullptr;
  const EVP_MD* mgf1 = nullptr;
  int salt = 0;
  if (*siglen < size || EVP_PKEY_CTX_get_signature_md(ctx, &md) <= 0 || md == nullptr ||
      EVP_PKEY_CTX_get_rsa_mgf1_md(ctx, &mgf1) <= 0 || mgf1 == nullptr || EVP_PKEY_CTX_get_rsa_pss_saltlen(ctx, &salt) <= 0 ||
      tbslen != static_cast<size_t>(EVP_MD_get_size(md))) {
    RaiseOpenSslError("Incomplete RSA-PSS parameters.");
    return 0;
  }
  int hashLength = EVP_MD_get_size(md);
  int maxSalt = (RSA_bits(rsa) - 1 + 7) / 8 - hashLength - 2;
  if (salt == RSA_PSS_SALTLEN_DIGEST) salt = hashLength;
  else if (salt < 0) salt = maxSalt;  // RSA_PSS_SALTLEN_MAX and _AUTO: the largest salt that fits
  try {
    Bytes signature = SignRsaPss(*key, md, mgf1, salt, tbs, tbslen);
    // `sig` holds *siglen bytes (at least RSA_size, checked above).
    if (signature.size() > *siglen || signature.size() > size) Fail("ERR_SIGNATURE_SIZE", "The token returned an oversized RSA-PSS signature.");
    std::copy(signature.begin(), signature.end(), sig);
    *siglen = signature.size();
    return 1;
  } catch (const std::exception&) {
    RaiseCaughtError();
    return 0;
  }
}

ECDSA_SIG* EcdsaSign(const unsigned char* dgst, int length, const BIGNUM*, const BIGNUM*, EC_KEY* ec) {
  TokenKey* key = KeyOf(ec);
  if (key == nullptr) return nullptr;
  try {
    Bytes raw = SignEcdsa(*key, dgst, length);
    // r and s each at most as long as the group order (SignEcdsa checked the token's length).
    const EC_GROUP* group = EC_KEY_get0_group(ec);
    size_t orderBytes = group != nullptr ? static_cast<size_t>((EC_GROUP_order_bits(group) + 7) / 8) : 0;
    if (raw.size() != 2 * orderBytes) Fail("ERR_SIGNATURE_SIZE", "The token returned an ECDSA signature of the wrong length.");
    size_t half = raw.size() / 2;
    BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
    ECDSA_SIG* sig = ECDSA_SIG_new();
    if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(sig);
      Fail("ERR_OPENSSL", "Out of memory converting an ECDSA signature.");
    }
    return sig;
  } catch (const std::exception&) {
    RaiseCaughtError();
    return nullptr;
  }
}

int PkeyMethods(ENGINE*, EVP_PKEY_METHOD** method, const int** nids, int nid) {
  static const int kNids[] = {EVP_PKEY_RSA};
  if (method == nullptr) {
    *nids = kNids;
    return 1;
  }
  *method = nid == EVP_PKEY_RSA ? rsaPkeyMethod : nullptr;
  return *method != nullptr;
}

EVP_PKEY* LoadPrivateKey(ENGINE* engine, const char* uri, UI_METHOD*, void*) {
  try {
    KeyUri parsed = ParseKeyUri(uri);
    return MakeEnginePkey(TokenKey::Find(TokenForUri(parsed), parsed, KeyUse::kKeep), engine);
  } catch (const std::exception&) {
    RaiseCaughtError();
    return nullptr;
  }
}

void BuildMethods() {
  rsaIndex = RSA_get_ex_new_index(0, nullptr, nullptr, DupKeyRef, FreeKeyRef);
  ecIndex = EC_KEY_get_ex_new_index(0, nullptr, nullptr, DupKeyRef, FreeKeyRef);
  rsaMethod = RSA_meth_dup(RSA_PKCS1_OpenSSL());
  ecMethod = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
  rsaPkeyMethod = EVP_PKEY_meth_new(EVP_PKEY_RSA, EVP_PKEY_FLAG_AUTOARGLEN);
  const EVP_PKEY_METHOD* defaultRsa = EVP_PKEY_meth_find(EVP_PKEY_RSA);
  if (rsaIndex < 0 || ecIndex < 0 || rsaMethod == nullptr || ecMethod == nullptr || rsaPkeyMethod == nullptr || defaultRsa == nullptr)
    Fail("ERR_OPENSSL", "Could not set up the OpenSSL key methods.");
  if (RSA_meth_set1_name(rsaMethod, "hsmkms PKCS#11 RSA") != 1 || RSA_meth_set_sign(rsaMethod, RsaSign) != 1 ||
      RSA_meth_set_priv_enc(rsaMethod, RsaPrivateEncrypt) != 1 || RSA_meth_set_priv_dec(rsaMethod, RsaPrivateDecrypt) != 1 ||
      RSA_meth_set_flags(rsaMethod, RSA_meth_get_flags(rsaMethod) | RSA_FLAG_EXT_PKEY) != 1)
    Fail("ERR_OPENSSL", "Could not set up the RSA method.");
  int (*sign)(int, const unsigned char*, int, unsigned char*, unsigned int*, const BIGNUM*, const BIGNUM*, EC_KEY*) = nullptr;
  int (*setup)(EC_KEY*, BN_CTX*, BIGNUM**, BIGNUM**) = nullptr;
  EC_KEY_METHOD_get_sign(ecMethod, &sign, &setup, nullptr);
  EC_KEY_METHOD_set_sign(ecMethod, sign, setup, EcdsaSign);
  EVP_PKEY_meth_copy(rsaPkeyMethod, defaultRsa);
  int (*signInit)(EVP_PKEY_CTX*) = nullptr;
  EVP_PKEY_meth_get_sign(defaultRsa, &signInit, &defaultRsaPkeySign);
  EVP_PKEY_meth_set_sign(rsaPkeyMethod, signInit, PkeyRsaSign);
}

}  // namespace

void RegisterEngine() {
  static std::once_flag once;
  std::call_once(once, [] {
    BuildMethods();
    ENGINE* engine = ENGINE_new();
    if (engine == nullptr) Fail("ERR_OPENSSL", "ENGINE_new failed.");
    bool ok = ENGINE_set_id(engine, kEngineId) == 1 && ENGINE_set_name(engine, "hsmkms PKCS#11 key offload") == 1 &&
              ENGINE_set_load_privkey_function(engine, LoadPrivateKey) == 1 && ENGINE_set_pkey_meths(engine, PkeyMethods) == 1 &&
              // Never picked as a default for other keys: only keys loaded through it use it.
              ENGINE_set_flags(engine, ENGINE_FLAGS_NO_REGISTER_ALL) == 1 && ENGINE_add(engine) == 1;
    ENGINE_free(engine);  // ENGINE_add keeps its own reference
    if (!ok) {
      ERR_clear_error();
      Fail("ERR_OPENSSL", "Could not register the hsmkms OpenSSL engine.");
    }
  });
}

EVP_PKEY* MakeEnginePkey(const std::shared_ptr<TokenKey>& key, ENGINE* engine) {
  RegisterEngine();
  const PublicKeyParts& pub = key->publicKey();
  EVP_PKEY* pkey = EVP_PKEY_new();
  if (pkey == nullptr) Fail("ERR_OPENSSL", "EVP_PKEY_new failed.");
  if (pub.type == CKK_RSA) {
    RSA* rsa = RSA_new();
    BIGNUM* n = BN_bin2bn(pub.modulus.data(), static_cast<int>(pub.modulus.size()), nullptr);
    BIGNUM* e = BN_bin2bn(pub.exponent.data(), static_cast<int>(pub.exponent.size()), nullptr);
    bool ok = rsa != nullptr && n != nullptr && e != nullptr && RSA_set_method(rsa, rsaMethod) == 1 && RSA_set0_key(rsa, n, e, nullptr) == 1;
    if (!ok) {
      BN_free(n);
      BN_free(e);
    }
    ok = ok && RSA_set_ex_data(rsa, rsaIndex, new KeyRef(key)) == 1;
    if (!ok || EVP_PKEY_assign_RSA(pkey, rsa) != 1) {
      RSA_free(rsa);
      EVP_PKEY_free(pkey);
      Fail("ERR_OPENSSL", "Could not build the RSA key object.");
    }
    if (engine != nullptr && EVP_PKEY_set1_engine(pkey, engine) != 1) {
      EVP_PKEY_free(pkey);
      Fail("ERR_OPENSSL", "Could not attach the RSA key to the hsmkms engine.");
    }
    return pkey;
  }
  const unsigned char* p = pub.ecParams.data();
  EC_GROUP* group = d2i_ECPKParameters(nullptr, &p, static_cast<long>(pub.ecParams.size()));
  EC_KEY* ec = EC_KEY_new();
  EC_POINT* point = group != nullptr ? EC_POINT_new(group) : nullptr;
  bool ok = ec != nullptr && point != nullptr && EC_KEY_set_method(ec, ecMethod) == 1 && EC_KEY_set_group(ec, group) == 1 &&
            EC_POINT_oct2point(group, point, pub.ecPoint.data(), pub.ecPoint.size(), nullptr) == 1 &&
            EC_KEY_set_public_key(ec, point) == 1 && EC_KEY_set_ex_data(ec, ecIndex, new KeyRef(key)) == 1;
  EC_POINT_free(point);
  EC_GROUP_free(group);
  if (!ok || EVP_PKEY_assign_EC_KEY(pkey, ec) != 1) {
    EC_KEY_free(ec);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    Fail("ERR_KEY_TYPE", "The EC key's curve or public point is not usable (P-256 and P-384 are supported).");
  }
  return pkey;
}

Bytes PublicKeySpki(const std::shared_ptr<TokenKey>& key) {
  EVP_PKEY* pkey = MakeEnginePkey(key, nullptr);
  int length = i2d_PUBKEY(pkey, nullptr);
  Bytes out(length > 0 ? length : 0);
  unsigned char* p = out.data();
  bool ok = length > 0 && i2d_PUBKEY(pkey, &p) == length;
  EVP_PKEY_free(pkey);
  if (!ok) {
    ERR_clear_error();
    Fail("ERR_OPENSSL", "Could not encode the public key.");
  }
  return out;
}

}  // namespace hsmkms
