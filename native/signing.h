// The three ways TLS asks a private key to sign, each mapped to one PKCS#11 mechanism:
// RSA PKCS#1 v1.5 (CKM_RSA_PKCS over a DigestInfo), RSA-PSS (CKM_RSA_PKCS_PSS, the token pads)
// and ECDSA (CKM_ECDSA, raw r‖s). No raw RSA (CKM_RSA_X_509): the key cannot be turned into
// a decryption or signing oracle, and HSM policies that forbid raw RSA keep working.
#pragma once

#include <openssl/evp.h>

#include <atomic>
#include <memory>

#include "token-key.h"

namespace hsmkms {

// Each returns a signature no longer than the key allows (the modulus for RSA; exactly 2 × the
// order for ECDSA) or fails with ERR_SIGNATURE_SIZE; callers still check it against their buffer.

/** RSA PKCS#1 v1.5 over a digest made with `md` (NID_md5_sha1: the bare 36-byte TLS 1.0 hash). */
Bytes SignRsaPkcs1(TokenKey& key, int mdNid, const unsigned char* digest, size_t size);

/** RSA-PSS over a digest; saltLength in bytes. */
Bytes SignRsaPss(TokenKey& key, const EVP_MD* md, const EVP_MD* mgf1, int saltLength, const unsigned char* digest, size_t size);

/** ECDSA over a digest (truncated to the order length); the token's raw r‖s. */
Bytes SignEcdsa(TokenKey& key, const unsigned char* digest, size_t size);

/** Sign operations performed in a token, to prove in benchmarks that each handshake signed. */
extern std::atomic<uint64_t> signCount;

}  // namespace hsmkms
