// A private key in a token, found by its pkcs11: URI: its public half (for the certificate
// check and the EVP_PKEY that OpenSSL sees) and signing with it.
#pragma once

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

class TokenKey {
 public:
  /** Finds exactly one private key matching the URI; throws ERR_KEY_NOT_FOUND / ERR_KEY_AMBIGUOUS. */
  static std::shared_ptr<TokenKey> Find(std::shared_ptr<Token> token, const KeyUri& uri);

  /** Signs `data` with `mechanism`; the object handle is looked up again after a reconnect. */
  Bytes Sign(CK_MECHANISM* mechanism, const unsigned char* data, size_t size, size_t maxSignature);

  const PublicKeyParts& publicKey() const { return public_; }
  bool sensitive() const { return sensitive_; }
  bool extractable() const { return extractable_; }
  const std::shared_ptr<Token>& token() const { return token_; }

 private:
  CK_OBJECT_HANDLE Locate(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session);
  /** A session copy of `stored` to sign with, or `stored` itself where the token allows none. */
  CK_OBJECT_HANDLE WorkingCopy(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE stored);
  void ReadPublic(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session);

  std::shared_ptr<Token> token_;
  KeyUri uri_;
  CK_OBJECT_HANDLE handle_ = CK_INVALID_HANDLE;
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
