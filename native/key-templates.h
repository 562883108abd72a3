// Generating a secret key whose template holds a template (CKA_UNWRAP_TEMPLATE), which pkcs11js
// cannot pass: its attribute values are numbers, booleans, strings and buffers only. Used once per
// token, at start-up, to create the domain key; the session is one the KMS backend (pkcs11js)
// opened and logged in, in the same loaded module.
#pragma once

#include <string>
#include <vector>

#include "cryptoki.h"

namespace hsmkms {

/** One attribute with its value already in PKCS#11's byte form (CK_BBOOL, CK_ULONG, or bytes). */
struct AttributeValue {
  CK_ATTRIBUTE_TYPE type;
  std::vector<unsigned char> value;
};

/**
 * C_GenerateKey on `session` of the module at `modulePath` with `attributes` plus
 * CKA_UNWRAP_TEMPLATE = `unwrapTemplate`; returns the new key's handle.
 */
CK_OBJECT_HANDLE GenerateKeyWithUnwrapTemplate(const std::string& modulePath, CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism,
                                               const std::vector<AttributeValue>& attributes, const std::vector<AttributeValue>& unwrapTemplate);

}  // namespace hsmkms
