#include "signing.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "errors.h"

namespace hsmkms {

std::atomic<uint64_t> signCount{0};

namespace {

/** DER DigestInfo { algorithm, digest } as PKCS#1 v1.5 signs it, built by OpenSSL's ASN.1 code. */
Bytes DigestInfo(int mdNid, const unsigned char* digest, size_t size) {
  X509_SIG* sig = X509_SIG_new();
  if (sig == nullptr) Fail("ERR_OPENSSL", "Out of memory building a DigestInfo.");
  X509_ALGOR* alg = nullptr;
  ASN1_OCTET_STRING* octets = nullptr;
  X509_SIG_getm(sig, &alg, &octets);
  Bytes out;
  if (X509_ALGOR_set0(alg, OBJ_nid2obj(mdNid), V_ASN1_NULL, nullptr) == 1 &&
      ASN1_OCTET_STRING_set(octets, digest, static_cast<int>(size)) == 1) {
    int length = i2d_X509_SIG(sig, nullptr);
    if (length > 0) {
      out.resize(length);
      unsigned char* p = out.data();
      if (i2d_X509_SIG(sig, &p) != length) out.clear();
    }
  }
  X509_SIG_free(sig);
  if (out.empty()) Fail("ERR_OPENSSL", "Could not encode the DigestInfo for an RSA signature.");
  return out;
}

CK_MECHANISM_TYPE HashMechanism(const EVP_MD* md) {
  switch (EVP_MD_get_type(md)) {
    case NID_sha1: return CKM_SHA_1;
    case NID_sha224: return CKM_SHA224;
    case NID_sha256: return CKM_SHA256;
    case NID_sha384: return CKM_SHA384;
    case NID_sha512: return CKM_SHA512;
    default: Fail("ERR_UNSUPPORTED_HASH", std::string("RSA-PSS with ") + EVP_MD_get0_name(md) + " is not supported by the token.");
  }
}

CK_RSA_PKCS_MGF_TYPE Mgf1(const EVP_MD* md) {
  switch (EVP_MD_get_type(md)) {
    case NID_sha1: return CKG_MGF1_SHA1;
    case NID_sha224: return CKG_MGF1_SHA224;
    case NID_sha256: return CKG_MGF1_SHA256;
    case NID_sha384: return CKG_MGF1_SHA384;
    case NID_sha512: return CKG_MGF1_SHA512;
    default: Fail("ERR_UNSUPPORTED_HASH", std::string("MGF1 with ") + EVP_MD_get0_name(md) + " is not supported by the token.");
  }
}

/** Bytes of the RSA modulus, which every RSA signature of the key fills exactly (RSA_size). */
size_t ModulusBytes(const TokenKey& key) {
  const Bytes& n = key.publicKey().modulus;
  size_t skip = 0;
  while (skip < n.size() && n[skip] == 0) skip++;
  return n.size() - skip;
}

/** An RSA signature longer than the modulus would overrun the caller's RSA_size buffer. */
Bytes CheckedRsa(Bytes signature, const TokenKey& key) {
  if (signature.size() > ModulusBytes(key)) Fail("ERR_SIGNATURE_SIZE", "The token returned an RSA signature longer than the key's modulus.");
  return signature;
}

}  // namespace

Bytes SignRsaPkcs1(TokenKey& key, int mdNid, const unsigned char* digest, size_t size) {
  Bytes input = mdNid == NID_md5_sha1 ? Bytes(digest, digest + size) : DigestInfo(mdNid, digest, size);
  CK_MECHANISM mechanism = {CKM_RSA_PKCS, nullptr, 0};
  Bytes signature = CheckedRsa(key.Sign(&mechanism, input.data(), input.size(), key.publicKey().modulus.size() + 1), key);
  signCount++;
  return signature;
}

Bytes SignRsaPss(TokenKey& key, const EVP_MD* md, const EVP_MD* mgf1, int saltLength, const unsigned char* digest, size_t size) {
  CK_RSA_PKCS_PSS_PARAMS params = {HashMechanism(md), Mgf1(mgf1), static_cast<CK_ULONG>(saltLength)};
  CK_MECHANISM mechanism = {CKM_RSA_PKCS_PSS, &params, sizeof params};
  Bytes signature = CheckedRsa(key.Sign(&mechanism, digest, size, key.publicKey().modulus.size() + 1), key);
  signCount++;
  return signature;
}

Bytes SignEcdsa(TokenKey& key, const unsigned char* digest, size_t size) {
  size_t orderBytes = (key.publicKey().ecPoint.size() - 1) / 2;
  CK_MECHANISM mechanism = {CKM_ECDSA, nullptr, 0};
  // ECDSA uses the leftmost bits of a longer digest; P-256 and P-384 orders are whole bytes.
  Bytes signature = key.Sign(&mechanism, digest, size < orderBytes ? size : orderBytes, 2 * orderBytes);
  // PKCS#11 ECDSA signatures are r‖s, each exactly as long as the order: anything else is not one.
  if (signature.size() != 2 * orderBytes) Fail("ERR_SIGNATURE_SIZE", "The token returned an ECDSA signature of the wrong length.");
  signCount++;
  return signature;
}

}  // namespace hsmkms
