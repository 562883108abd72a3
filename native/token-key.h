// A private key in a token, found by its pkcs11: URI: its public half (for the certificate
// check and the EVP_PKEY that OpenSSL sees) and signing with it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cryptoki.h"
#include "key-uri.h"
#include "token.h"

namespace hsmkms {

using Bytes = std::vector<unsigned char>;

struct PublicKeyParts {
  CK_KEY_TYPE type = 0;  // CKK_RSA or CKK_EC
  Bytes modulus, exponent;  // RSA
  Bytes ecParams, ecPoint;  // EC: DER curve parameters, uncompressed point (not DER-wrapped)
};

/** What a key is found for: to be described (and signed with once), or kept for many signatures. */
enum class KeyUse { kDescribe, kKeep };

class TokenKey {
 public:
  /**
   * Finds exactly one private key matching the URI; throws ERR_KEY_NOT_FOUND / ERR_KEY_AMBIGUOUS.
   * A key kept for signing (kKeep: an ENGINE load) signs with a session working copy, destroyed
   * with the TokenKey; a described key makes none.
   */
  static std::shared_ptr<TokenKey> Find(std::shared_ptr<Token> token, const KeyUri& uri, KeyUse use);
  ~TokenKey();
  TokenKey(const TokenKey&) = delete;
  TokenKey& operator=(const TokenKey&) = delete;

  /**
   * Signs `data` with `mechanism`; the object handle is looked up again after a reconnect. A
   * token that reports more than `maxSignature` bytes fails with ERR_SIGNATURE_SIZE.
   */
  Bytes Sign(CK_MECHANISM* mechanism, const unsigned char* data, size_t size, size_t maxSignature);

  const PublicKeyParts& publicKey() const { return public_; }
  bool sensitive() const { return sensitive_; }
  bool extractable() const { return extractable_; }
  const std::shared_ptr<Token>& token() const { return token_; }

  /** Session copies made to sign with, and copies the token refused or got wrong (the stored key signed). */
  static std::atomic<uint64_t> sessionCopies, copyRefusals;

 private:
  TokenKey() = default;
  CK_OBJECT_HANDLE Locate(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session);
  /** Sets handle_ to a session copy of `stored` when kept, or to `stored` (no copy wanted or allowed). */
  void UseHandle(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE stored, uint64_t generation);
  void ReadPublic(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session);

  std::shared_ptr<Token> token_;
  KeyUri uri_;
  KeyUse use_ = KeyUse::kDescribe;
  CK_OBJECT_HANDLE handle_ = CK_INVALID_HANDLE;
  bool copied_ = false;  // handle_ is a working copy this TokenKey made and must destroy
  /** The token object a working copy was made from, and when it was last seen still allowed to sign. */
  CK_OBJECT_HANDLE stored_ = CK_INVALID_HANDLE;
  std::chrono::steady_clock::time_point storedCheckedAt_;
  /** Drops the working copy when the stored key is gone or no longer allowed to sign (checked once a second). */
  void FollowStored(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session);
  uint64_t generation_ = 0;
  PublicKeyParts public_;
  bool sensitive_ = false, extractable_ = true;
};

enum class KeySpec { RSA_2048, RSA_3072, ECC_NIST_P256, ECC_NIST_P384 };

/**
 * Generates a key pair in the token: private half sensitive, never extractable, sign-only;
 * CKA_ID is random. Fails with ERR_KEY_EXISTS when a private key with the label exists.
 */
std::shared_ptr<TokenKey> GenerateKeyPair(std::shared_ptr<Token> token, KeySpec spec, const std::string& label, Bytes* idOut);

}  // namespace hsmkms
