// The OpenSSL ENGINE ("hsmkms") that Node's own OpenSSL loads private keys through:
// `privateKeyEngine: "hsmkms", privateKeyIdentifier: "pkcs11:…"`.
#pragma once

#include <openssl/engine.h>
#include <openssl/evp.h>

#include <memory>

#include "token-key.h"

namespace hsmkms {

constexpr const char* kEngineId = "hsmkms";

/** Registers the engine in Node's OpenSSL (once per process; ENGINE_add is process-wide). */
void RegisterEngine();

/** An EVP_PKEY whose private operations are signed by `key` in the token. */
EVP_PKEY* MakeEnginePkey(const std::shared_ptr<TokenKey>& key, ENGINE* engine);

/** DER SubjectPublicKeyInfo of the key's public half. */
Bytes PublicKeySpki(const std::shared_ptr<TokenKey>& key);

}  // namespace hsmkms
