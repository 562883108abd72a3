#include "key-templates.h"

#include "errors.h"
#include "token.h"

namespace hsmkms {
namespace {

std::vector<CK_ATTRIBUTE> Pointing(const std::vector<AttributeValue>& values) {
  std::vector<CK_ATTRIBUTE> out;
  out.reserve(values.size());
  for (const AttributeValue& a : values)
    out.push_back({a.type, const_cast<unsigned char*>(a.value.data()), static_cast<CK_ULONG>(a.value.size())});
  return out;
}

}  // namespace

CK_OBJECT_HANDLE GenerateKeyWithUnwrapTemplate(const std::string& modulePath, CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism,
                                               const std::vector<AttributeValue>& attributes, const std::vector<AttributeValue>& unwrapTemplate) {
  // The module is already loaded and initialised by pkcs11js: loading it by path again returns
  // the same library, whose sessions and login this call shares.
  std::shared_ptr<Module> module = Module::Load(modulePath);
  std::vector<CK_ATTRIBUTE> inner = Pointing(unwrapTemplate);
  std::vector<CK_ATTRIBUTE> outer = Pointing(attributes);
  outer.push_back({CKA_UNWRAP_TEMPLATE, inner.data(), static_cast<CK_ULONG>(inner.size() * sizeof(CK_ATTRIBUTE))});
  CK_MECHANISM m = {mechanism, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  Check(module->fn()->C_GenerateKey(session, &m, outer.data(), static_cast<CK_ULONG>(outer.size()), &key), "C_GenerateKey");
  return key;
}

}  // namespace hsmkms
