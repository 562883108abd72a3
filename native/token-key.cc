#include "token-key.h"

#include <openssl/rand.h>

#include "errors.h"

namespace hsmkms {

std::atomic<uint64_t> TokenKey::sessionCopies{0};
std::atomic<uint64_t> TokenKey::copyRefusals{0};

namespace {

Bytes GetAttribute(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, bool* present) {
  CK_ATTRIBUTE attr = {type, nullptr, 0};
  CK_RV rv = fn->C_GetAttributeValue(s, o, &attr, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE || attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    if (present) *present = false;
    return {};
  }
  Check(rv, "C_GetAttributeValue");
  Bytes value(attr.ulValueLen);
  attr.pValue = value.data();
  Check(fn->C_GetAttributeValue(s, o, &attr, 1), "C_GetAttributeValue");
  value.resize(attr.ulValueLen);
  if (present) *present = true;
  return value;
}

bool GetBool(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, bool fallback) {
  bool present = false;
  Bytes v = GetAttribute(fn, s, o, type, &present);
  return present && !v.empty() ? v[0] != 0 : fallback;
}

std::vector<CK_OBJECT_HANDLE> FindObjects(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, std::vector<CK_ATTRIBUTE>& tmpl) {
  Check(fn->C_FindObjectsInit(s, tmpl.data(), tmpl.size()), "C_FindObjectsInit");
  std::vector<CK_OBJECT_HANDLE> found(4);
  CK_ULONG count = 0;
  CK_RV rv = fn->C_FindObjects(s, found.data(), found.size(), &count);
  CK_RV finalRv = fn->C_FindObjectsFinal(s);
  Check(rv, "C_FindObjects");
  Check(finalRv, "C_FindObjectsFinal");
  found.resize(count);
  return found;
}

/** CKA_EC_POINT is a DER OCTET STRING by the standard, a bare point in some modules. */
Bytes UnwrapEcPoint(const Bytes& v) {
  if (v.size() >= 2 && v[0] == 0x04) {
    size_t len = v[1], header = 2;
    if (v[1] == 0x81 && v.size() >= 3) {
      len = v[2];
      header = 3;
    } else if (v[1] == 0x82 && v.size() >= 4) {
      len = (size_t{v[2]} << 8) | v[3];
      header = 4;
    } else if (v[1] & 0x80) {
      return v;
    }
    if (header + len == v.size() && len > 0 && (v[header] == 0x04 || v[header] == 0x02 || v[header] == 0x03))
      return Bytes(v.begin() + header, v.end());
  }
  return v;
}

std::string DescribeUri(const KeyUri& uri) {
  std::string what;
  if (!uri.object.empty()) what += "object=" + uri.object;
  if (uri.hasId) what += std::string(what.empty() ? "" : ", ") + "id of " + std::to_string(uri.id.size()) + " bytes";
  return what;
}

}  // namespace

std::shared_ptr<TokenKey> TokenKey::Find(std::shared_ptr<Token> token, const KeyUri& uri, KeyUse use) {
  auto key = std::shared_ptr<TokenKey>(new TokenKey());
  key->token_ = std::move(token);
  key->uri_ = uri;
  key->use_ = use;
  key->token_->WithSession([&](CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, uint64_t generation) {
    key->handle_ = key->Locate(fn, s);
    key->ReadPublic(fn, s);
    key->UseHandle(fn, s, key->handle_, generation);
  });
  return key;
}

TokenKey::~TokenKey() {
  if (copied_) token_->DestroyObject(handle_, generation_);
}

CK_OBJECT_HANDLE TokenKey::Locate(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s) {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_BBOOL onToken = CK_TRUE;
  // Token objects only: the session working copies below must not make a key look ambiguous.
  std::vector<CK_ATTRIBUTE> tmpl = {{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &onToken, sizeof onToken}};
  if (!uri_.object.empty()) tmpl.push_back({CKA_LABEL, uri_.object.data(), uri_.object.size()});
  if (uri_.hasId) tmpl.push_back({CKA_ID, uri_.id.data(), uri_.id.size()});
  auto found = FindObjects(fn, s, tmpl);
  // A session whose login was lost finds no private object; that is not believed to be a missing
  // key but reported as what it is, so that WithSession logs in again (once).
  CK_SESSION_INFO info;
  if (found.empty() && fn->C_GetSessionInfo(s, &info) == CKR_OK && info.state != CKS_RO_USER_FUNCTIONS &&
      info.state != CKS_RW_USER_FUNCTIONS)
    throw HsmError("CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN, "C_FindObjects", "The token session is no longer logged in.");
  if (found.empty())
    throw HsmError("ERR_KEY_NOT_FOUND", CKR_OK, "C_FindObjects",
                   "No private key with " + DescribeUri(uri_) + " in the token (is the label right, and was the key created in this token?).");
  if (found.size() > 1)
    throw HsmError("ERR_KEY_AMBIGUOUS", CKR_OK, "C_FindObjects",
                   "Several private keys match " + DescribeUri(uri_) + "; add id= to the pkcs11: URI to pick one.");
  return found[0];
}

void TokenKey::UseHandle(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE stored, uint64_t generation) {
  // A kept key signs with a session copy where the token prefers it (SoftHSM2, see
  // Token::PrefersSessionCopies): its token objects cost ~14 file system calls per signature
  // (two ObjectFile refreshes: open, fstat, fcntl locks, read, close), a session copy none; ~77 →
  // ~49 µs CPU per P-256 signature measured here. The copy is destroyed with this TokenKey, or
  // vanishes with the session, after which Sign makes a new one. A token that refuses the copy
  // (CKA_COPYABLE false, no C_CopyObject), or returns one that is not what was asked for, leaves
  // the stored key to sign. A key found to be described, or to sign once, needs no copy.
  handle_ = stored;
  stored_ = stored;
  storedCheckedAt_ = std::chrono::steady_clock::now();
  copied_ = false;
  generation_ = generation;
  if (use_ != KeyUse::kKeep || !token_->PrefersSessionCopies()) return;
  CK_BBOOL onToken = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &onToken, sizeof onToken}};
  CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
  if (fn->C_CopyObject(s, stored, tmpl, 1, &copy) != CKR_OK) {
    copyRefusals++;
    return;
  }
  // PKCS#11 lets a copy only tighten CKA_SENSITIVE and CKA_EXTRACTABLE; a token that loosened them,
  // or stored the copy in the token, is not used (and the copy goes).
  bool asked = false;
  try {
    asked = !GetBool(fn, s, copy, CKA_TOKEN, true) && (!sensitive_ || GetBool(fn, s, copy, CKA_SENSITIVE, false)) &&
            (extractable_ || !GetBool(fn, s, copy, CKA_EXTRACTABLE, true));
  } catch (const HsmError&) {
    asked = false;
  }
  if (!asked) {
    fn->C_DestroyObject(s, copy);  // failure leaves a session object that dies with the session
    copyRefusals++;
    return;
  }
  handle_ = copy;
  copied_ = true;
  sessionCopies++;
}

void TokenKey::FollowStored(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s) {
  // A copy keeps the attributes it was made with: were it used for ever, a key the operator has
  // since deleted, or denied CKA_SIGN, would go on signing. One read of the stored object a
  // second (not per signature: that is the file system work the copy saves) bounds that to 1 s;
  // then the stored key signs, and fails the way it would have without a copy.
  auto now = std::chrono::steady_clock::now();
  if (!copied_ || now - storedCheckedAt_ < std::chrono::seconds(1)) return;
  storedCheckedAt_ = now;
  CK_BBOOL sign = CK_FALSE;
  CK_ATTRIBUTE attr = {CKA_SIGN, &sign, sizeof sign};
  if (fn->C_GetAttributeValue(s, stored_, &attr, 1) == CKR_OK && attr.ulValueLen == sizeof sign && sign == CK_TRUE) return;
  fn->C_DestroyObject(s, handle_);  // failure leaves a session object that dies with the session
  copied_ = false;
  handle_ = stored_;
}

void TokenKey::ReadPublic(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s) {
  Bytes type = GetAttribute(fn, s, handle_, CKA_KEY_TYPE, nullptr);
  if (type.size() != sizeof(CK_KEY_TYPE)) Fail("ERR_KEY_TYPE", "The key has no readable CKA_KEY_TYPE.");
  public_.type = *reinterpret_cast<CK_KEY_TYPE*>(type.data());
  sensitive_ = GetBool(fn, s, handle_, CKA_SENSITIVE, false);
  extractable_ = GetBool(fn, s, handle_, CKA_EXTRACTABLE, true);
  if (public_.type == CKK_RSA) {
    public_.modulus = GetAttribute(fn, s, handle_, CKA_MODULUS, nullptr);
    public_.exponent = GetAttribute(fn, s, handle_, CKA_PUBLIC_EXPONENT, nullptr);
    return;
  }
  if (public_.type != CKK_EC) Fail("ERR_KEY_TYPE", "The key is neither RSA nor EC; TLS offload supports RSA and ECDSA keys.");
  public_.ecParams = GetAttribute(fn, s, handle_, CKA_EC_PARAMS, nullptr);
  // The point lives on the public key object: the one with the same CKA_ID (or label).
  CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
  bool hasId = false;
  Bytes id = GetAttribute(fn, s, handle_, CKA_ID, &hasId);
  bool hasLabel = false;
  Bytes label = GetAttribute(fn, s, handle_, CKA_LABEL, &hasLabel);
  std::vector<CK_ATTRIBUTE> tmpl = {{CKA_CLASS, &cls, sizeof cls}};
  if (hasId && !id.empty()) tmpl.push_back({CKA_ID, id.data(), id.size()});
  else if (hasLabel) tmpl.push_back({CKA_LABEL, label.data(), label.size()});
  auto found = FindObjects(fn, s, tmpl);
  if (found.size() != 1)
    Fail("ERR_PUBLIC_KEY_NOT_FOUND", "The EC private key has no unique public key object with the same CKA_ID in the token; the public point is needed for TLS.");
  public_.ecPoint = UnwrapEcPoint(GetAttribute(fn, s, found[0], CKA_EC_POINT, nullptr));
}

Bytes TokenKey::Sign(CK_MECHANISM* mechanism, const unsigned char* data, size_t size, size_t maxSignature) {
  // Copies of everything the sign thread reads: a call given up at the deadline may read them later.
  auto call = std::make_shared<SignCall>();
  call->mechanism = mechanism->mechanism;
  const auto* parameter = static_cast<const unsigned char*>(mechanism->pParameter);
  if (parameter != nullptr) call->parameter.assign(parameter, parameter + mechanism->ulParameterLen);
  call->data.assign(data, data + size);
  token_->WithSession([&](CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, uint64_t generation) {
    // After a reconnect the old handle (and copy) went with the old session: find the key again.
    if (generation != generation_) UseHandle(fn, s, Locate(fn, s), generation);
    else FollowStored(fn, s);
    call->key = handle_;
    call->signature.assign(maxSignature, 0);
    token_->Sign(call);
    if (call->initRv == CKR_KEY_HANDLE_INVALID || call->initRv == CKR_OBJECT_HANDLE_INVALID) generation_ = 0;  // look it up again on retry
    Check(call->initRv, "C_SignInit");
    Check(call->signRv, "C_Sign");
    // A token that claims more bytes than it was given room for is not believed, nor read past.
    if (call->length > call->signature.size()) Fail("ERR_SIGNATURE_SIZE", "The token reported a signature longer than the buffer it was given.");
    call->signature.resize(call->length);
  });
  return std::move(call->signature);
}

std::shared_ptr<TokenKey> GenerateKeyPair(std::shared_ptr<Token> token, KeySpec spec, const std::string& label, Bytes* idOut) {
  // Curve OIDs, DER-encoded (CKA_EC_PARAMS holds the namedCurve OBJECT IDENTIFIER).
  static const Bytes kP256 = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const Bytes kP384 = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  Bytes id(16);
  if (RAND_bytes(id.data(), id.size()) != 1) Fail("ERR_RANDOM", "Could not draw random bytes for the key id.");
  bool isRsa = spec == KeySpec::RSA_2048 || spec == KeySpec::RSA_3072;
  CK_MECHANISM mechanism = {isRsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = spec == KeySpec::RSA_3072 ? 3072 : 2048;
  unsigned char exponent[] = {0x01, 0x00, 0x01};
  const Bytes& curve = spec == KeySpec::ECC_NIST_P384 ? kP384 : kP256;
  std::string labelCopy = label;
  std::vector<CK_ATTRIBUTE> pub = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_VERIFY, &yes, sizeof yes}, {CKA_ENCRYPT, &no, sizeof no},
      {CKA_WRAP, &no, sizeof no}, {CKA_LABEL, labelCopy.data(), labelCopy.size()}, {CKA_ID, id.data(), id.size()},
  };
  if (isRsa) {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
    pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof exponent});
  } else {
    pub.push_back({CKA_EC_PARAMS, const_cast<unsigned char*>(curve.data()), curve.size()});
  }
  std::vector<CK_ATTRIBUTE> priv = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_PRIVATE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no}, {CKA_SIGN, &yes, sizeof yes}, {CKA_DECRYPT, &no, sizeof no},
      {CKA_UNWRAP, &no, sizeof no}, {CKA_DERIVE, &no, sizeof no},
      {CKA_LABEL, labelCopy.data(), labelCopy.size()}, {CKA_ID, id.data(), id.size()},
  };
  token->WithSession([&](CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, uint64_t) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    std::vector<CK_ATTRIBUTE> existing = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, labelCopy.data(), labelCopy.size()}};
    if (!FindObjects(fn, s, existing).empty())
      throw HsmError("ERR_KEY_EXISTS", CKR_OK, "C_FindObjects", "The token already holds a private key labelled \"" + label + "\"; choose another label.");
    CK_OBJECT_HANDLE pubHandle, privHandle;
    Check(fn->C_GenerateKeyPair(s, &mechanism, pub.data(), pub.size(), priv.data(), priv.size(), &pubHandle, &privHandle),
          "C_GenerateKeyPair");
  });
  if (idOut) *idOut = id;
  KeyUri uri;
  uri.object = label;
  uri.id = id;
  uri.hasId = true;
  return TokenKey::Find(std::move(token), uri, KeyUse::kDescribe);
}

}  // namespace hsmkms
