// The JavaScript face of the addon. Every function but verifyEcdsa (the CA's CSR check, which
// queues its work on libuv's thread pool: ecdsa-verify.h) is synchronous: they run at start-up,
// in the CLI and in tests. On the TLS path nothing here is called: OpenSSL calls the ENGINE.
#include <napi.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

#include "client-verify.h"
#include "ecdsa-verify.h"
#include "engine.h"
#include "errors.h"
#include "file-map.h"
#include "key-templates.h"
#include "key-uri.h"
#include "signing.h"
#include "token-key.h"
#include "token-registry.h"

namespace hsmkms {
namespace {

/** An HsmError as a JS Error with `code`, `ckr` (number, 0 when not from PKCS#11) and `fn`. */
Napi::Error ToJsError(Napi::Env env, const HsmError& e) {
  Napi::Error error = Napi::Error::New(env, e.what());
  error.Set("code", Napi::String::New(env, e.code()));
  error.Set("ckr", Napi::Number::New(env, static_cast<double>(e.ckr())));
  if (!e.fn().empty()) error.Set("fn", Napi::String::New(env, e.fn()));
  return error;
}

template <typename F>
Napi::Value Guard(const Napi::CallbackInfo& info, F body) {
  try {
    return body();
  } catch (const HsmError& e) {
    ToJsError(info.Env(), e).ThrowAsJavaScriptException();
  } catch (const Napi::Error& e) {
    throw;
  } catch (const std::exception& e) {
    ToJsError(info.Env(), HsmError("ERR_HSM_ADDON", CKR_OK, "", e.what())).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) throw HsmError("ERR_INVALID_ARG_TYPE", CKR_OK, "", std::string(name) + " must be a string.");
  return info[i].As<Napi::String>().Utf8Value();
}

std::string OptionalString(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
}

Napi::Buffer<unsigned char> ToBuffer(Napi::Env env, const Bytes& bytes) {
  return Napi::Buffer<unsigned char>::Copy(env, bytes.data(), bytes.size());
}

/** A key to describe or to sign with once: no working copy is made (see TokenKey::Find). */
std::shared_ptr<TokenKey> FindKey(const std::string& uri) {
  KeyUri parsed = ParseKeyUri(uri);
  return TokenKey::Find(TokenForUri(parsed), parsed, KeyUse::kDescribe);
}

/** openToken({ modulePath, tokenLabel?, tokenSerial?, pin, callTimeoutMs }): logs in now; signatures wait at most callTimeoutMs. */
Napi::Value OpenTokenJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw HsmError("ERR_INVALID_ARG_TYPE", CKR_OK, "", "openToken takes an options object.");
    Napi::Object o = info[0].As<Napi::Object>();
    TokenConfig config{OptionalString(o, "modulePath"), OptionalString(o, "tokenLabel"), OptionalString(o, "tokenSerial"), OptionalString(o, "pin")};
    Napi::Value timeout = o.Get("callTimeoutMs");
    if (!timeout.IsNumber() || timeout.As<Napi::Number>().DoubleValue() < 1 || timeout.As<Napi::Number>().DoubleValue() > 86'400'000)
      Fail("ERR_INVALID_ARG_TYPE", "callTimeoutMs must be a number of ms from 1 to 86400000.");
    config.callTimeout = std::chrono::milliseconds(timeout.As<Napi::Number>().Int64Value());
    if (config.modulePath.empty()) Fail("ERR_INVALID_ARG_TYPE", "modulePath is required.");
    if (config.label.empty() && config.serial.empty()) Fail("ERR_INVALID_ARG_TYPE", "tokenLabel or tokenSerial is required.");
    OpenToken(config);
    OPENSSL_cleanse(config.pin.data(), config.pin.size());
    return info.Env().Undefined();
  });
}

/** forgetObjects(modulePath): the object handles kept for that module's tokens are looked up again; returns how many tokens. */
Napi::Value ForgetObjectsJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(ForgetObjects(StringArg(info, 0, "modulePath"))));
  });
}

Napi::Object Describe(Napi::Env env, const std::shared_ptr<TokenKey>& key) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("keyType", Napi::String::New(env, key->publicKey().type == CKK_RSA ? "RSA" : "EC"));
  out.Set("spki", ToBuffer(env, PublicKeySpki(key)));
  out.Set("sensitive", Napi::Boolean::New(env, key->sensitive()));
  out.Set("extractable", Napi::Boolean::New(env, key->extractable()));
  return out;
}

/** describeKey(uri): { keyType, spki, sensitive, extractable }. */
Napi::Value DescribeKeyJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return Describe(info.Env(), FindKey(StringArg(info, 0, "uri"))); });
}

/** generateKeyPair(uri naming token and object=label, spec): { keyType, spki, id, … }. */
Napi::Value GenerateKeyPairJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    KeyUri uri = ParseKeyUri(StringArg(info, 0, "uri"));
    std::string spec = StringArg(info, 1, "spec");
    KeySpec parsed;
    if (spec == "RSA_2048") parsed = KeySpec::RSA_2048;
    else if (spec == "RSA_3072") parsed = KeySpec::RSA_3072;
    else if (spec == "ECC_NIST_P256") parsed = KeySpec::ECC_NIST_P256;
    else if (spec == "ECC_NIST_P384") parsed = KeySpec::ECC_NIST_P384;
    else Fail("ERR_INVALID_KEY_SPEC", "Key spec must be RSA_2048, RSA_3072, ECC_NIST_P256 or ECC_NIST_P384.");
    if (uri.object.empty()) Fail("ERR_PKCS11_URI", "The new key needs a label (object=).");
    Bytes id;
    auto key = GenerateKeyPair(TokenForUri(uri), parsed, uri.object, &id);
    Napi::Object out = Describe(info.Env(), key);
    out.Set("id", ToBuffer(info.Env(), id));
    return out;
  });
}

/** signDigest(uri, hashName, digest): RSA PKCS#1 v1.5 signature or ECDSA raw r‖s. */
Napi::Value SignDigestJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    auto key = FindKey(StringArg(info, 0, "uri"));
    std::string hash = StringArg(info, 1, "hash");
    if (info.Length() < 3 || !info[2].IsBuffer()) Fail("ERR_INVALID_ARG_TYPE", "digest must be a Buffer.");
    auto digest = info[2].As<Napi::Buffer<unsigned char>>();
    const EVP_MD* md = EVP_get_digestbyname(hash.c_str());
    if (md == nullptr || static_cast<size_t>(EVP_MD_get_size(md)) != digest.Length())
      Fail("ERR_INVALID_ARG_VALUE", "The digest does not match the hash " + hash + ".");
    Bytes signature = key->publicKey().type == CKK_RSA ? SignRsaPkcs1(*key, EVP_MD_get_type(md), digest.Data(), digest.Length())
                                                        : SignEcdsa(*key, digest.Data(), digest.Length());
    return ToBuffer(info.Env(), signature);
  });
}

/**
 * parseKeyUri(uri): { token?, serial?, object?, id?, type? } — how the ENGINE reads a key URI, so
 * tests can hold it to the TypeScript parser; throws ERR_PKCS11_URI.
 */
Napi::Value ParseKeyUriJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    KeyUri uri = ParseKeyUri(StringArg(info, 0, "uri"));
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    auto text = [&](const char* name, const std::string& value) {
      if (!value.empty()) out.Set(name, Napi::String::New(env, value));
    };
    text("token", uri.token);
    text("serial", uri.serial);
    text("object", uri.object);
    text("type", uri.type);
    if (uri.hasId) out.Set("id", ToBuffer(env, Bytes(uri.id.begin(), uri.id.end())));
    return out;
  });
}

/** A template from JavaScript: [{ type, value: boolean | number | Buffer | string }]. */
std::vector<AttributeValue> TemplateArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsArray()) Fail("ERR_INVALID_ARG_TYPE", std::string(name) + " must be an array of attributes.");
  Napi::Array array = info[i].As<Napi::Array>();
  std::vector<AttributeValue> out;
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value item = array.Get(k);
    if (!item.IsObject()) Fail("ERR_INVALID_ARG_TYPE", std::string(name) + " holds a non-object.");
    Napi::Object o = item.As<Napi::Object>();
    Napi::Value type = o.Get("type"), value = o.Get("value");
    if (!type.IsNumber()) Fail("ERR_INVALID_ARG_TYPE", std::string(name) + ": an attribute type must be a number.");
    AttributeValue a{static_cast<CK_ATTRIBUTE_TYPE>(type.As<Napi::Number>().Int64Value()), {}};
    if (value.IsBoolean()) {
      a.value.push_back(value.As<Napi::Boolean>().Value() ? CK_TRUE : CK_FALSE);
    } else if (value.IsNumber()) {
      CK_ULONG n = static_cast<CK_ULONG>(value.As<Napi::Number>().Int64Value());
      const auto* p = reinterpret_cast<const unsigned char*>(&n);
      a.value.assign(p, p + sizeof n);
    } else if (value.IsBuffer()) {
      auto b = value.As<Napi::Buffer<unsigned char>>();
      a.value.assign(b.Data(), b.Data() + b.Length());
    } else if (value.IsString()) {
      std::string s = value.As<Napi::String>().Utf8Value();
      a.value.assign(s.begin(), s.end());
    } else {
      Fail("ERR_INVALID_ARG_TYPE", std::string(name) + ": an attribute value must be a boolean, number, Buffer or string.");
    }
    out.push_back(std::move(a));
  }
  return out;
}

/**
 * generateKeyWithUnwrapTemplate(modulePath, session, mechanism, template, unwrapTemplate): a
 * handle Buffer as pkcs11js uses them. `session` is a pkcs11js session handle in the same module.
 */
Napi::Value GenerateKeyWithUnwrapTemplateJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    std::string modulePath = StringArg(info, 0, "modulePath");
    if (info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsNumber()) Fail("ERR_INVALID_ARG_TYPE", "session must be a handle Buffer and mechanism a number.");
    auto handle = info[1].As<Napi::Buffer<unsigned char>>();
    CK_ULONG session = 0;
    if (handle.Length() != sizeof session) Fail("ERR_INVALID_ARG_TYPE", "session is not a PKCS#11 handle.");
    std::memcpy(&session, handle.Data(), sizeof session);
    CK_MECHANISM_TYPE mechanism = static_cast<CK_MECHANISM_TYPE>(info[2].As<Napi::Number>().Int64Value());
    CK_OBJECT_HANDLE key =
        GenerateKeyWithUnwrapTemplate(modulePath, session, mechanism, TemplateArg(info, 3, "template"), TemplateArg(info, 4, "unwrapTemplate"));
    return Napi::Buffer<unsigned char>::Copy(info.Env(), reinterpret_cast<unsigned char*>(&key), sizeof key);
  });
}

Napi::Value EngineIdJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    RegisterEngine();
    return Napi::String::New(info.Env(), kEngineId);
  });
}

Napi::Value StatsJs(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("signs", Napi::Number::New(info.Env(), static_cast<double>(signCount.load())));
  out.Set("reconnects", Napi::Number::New(info.Env(), static_cast<double>(Token::reconnects.load())));
  out.Set("signTimeouts", Napi::Number::New(info.Env(), static_cast<double>(Token::signTimeouts.load())));
  out.Set("signsRefusedWhileHung", Napi::Number::New(info.Env(), static_cast<double>(Token::signsRefusedWhileHung.load())));
  out.Set("sessionCopies", Napi::Number::New(info.Env(), static_cast<double>(TokenKey::sessionCopies.load())));
  out.Set("copyRefusals", Napi::Number::New(info.Env(), static_cast<double>(TokenKey::copyRefusals.load())));
  return out;
}

Napi::Value ArmClientVerifyJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value {
    ArmClientVerify(StringArg(info, 0, "subject"));
    return info.Env().Undefined();
  });
}

Napi::Value DisarmClientVerifyJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), DisarmClientVerify());
}

Napi::Value MapFdReadOnlyJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return MapFdReadOnly(info); });
}

Napi::Value VerifyEcdsaJs(const Napi::CallbackInfo& info) {
  return Guard(info, [&]() -> Napi::Value { return VerifyEcdsa(info); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openToken", Napi::Function::New(env, OpenTokenJs));
  exports.Set("forgetObjects", Napi::Function::New(env, ForgetObjectsJs));
  exports.Set("describeKey", Napi::Function::New(env, DescribeKeyJs));
  exports.Set("generateKeyPair", Napi::Function::New(env, GenerateKeyPairJs));
  exports.Set("signDigest", Napi::Function::New(env, SignDigestJs));
  exports.Set("parseKeyUri", Napi::Function::New(env, ParseKeyUriJs));
  exports.Set("generateKeyWithUnwrapTemplate", Napi::Function::New(env, GenerateKeyWithUnwrapTemplateJs));
  exports.Set("engineId", Napi::Function::New(env, EngineIdJs));
  exports.Set("stats", Napi::Function::New(env, StatsJs));
  exports.Set("armClientVerify", Napi::Function::New(env, ArmClientVerifyJs));
  exports.Set("disarmClientVerify", Napi::Function::New(env, DisarmClientVerifyJs));
  exports.Set("mapFdReadOnly", Napi::Function::New(env, MapFdReadOnlyJs));
  exports.Set("verifyEcdsa", Napi::Function::New(env, VerifyEcdsaJs));
  return exports;
}

}  // namespace
}  // namespace hsmkms

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return hsmkms::Init(env, exports); }

NODE_API_MODULE(hsmkms_tls, InitAddon)
