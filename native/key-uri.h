// RFC 7512 `pkcs11:` URIs that name a private key: which token and which object.
#pragma once

#include <string>
#include <vector>

namespace hsmkms {

struct KeyUri {
  std::string token;         // CKA token label (`token=`), empty when not given
  std::string serial;        // token serial number (`serial=`)
  std::string object;        // CKA_LABEL (`object=`)
  std::vector<unsigned char> id;  // CKA_ID (`id=`, percent-encoded bytes)
  bool hasId = false;
  std::string type;          // `type=`: only "private" (or absent) names a signing key
};

/**
 * Parses a `pkcs11:` URI. Rejects a PIN inside the URI (`pin-value`): PINs reach the addon
 * only through openToken(), never through strings that end up in logs or configuration.
 */
KeyUri ParseKeyUri(const std::string& uri);

}  // namespace hsmkms
