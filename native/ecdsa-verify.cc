#include "ecdsa-verify.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"

namespace hsmkms {
namespace {

/** Larger inputs are not a certificate request's (src/ca/csr.ts takes at most 32 KiB). */
constexpr size_t kMaxInput = 64 * 1024;

[[noreturn]] void Refuse(const std::string& message) { Fail("ERR_ECDSA_VERIFY", message); }

struct Curve {
  const char* name;
  int nid;
  size_t fieldBytes;
};
constexpr Curve kCurves[] = {{"P-256", NID_X9_62_prime256v1, 32}, {"P-384", NID_secp384r1, 48}};

struct Hash {
  const char* name;
  const EVP_MD* (*md)();
};
constexpr Hash kHashes[] = {{"sha1", EVP_sha1}, {"sha256", EVP_sha256}, {"sha384", EVP_sha384}, {"sha512", EVP_sha512}};

std::vector<unsigned char> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsBuffer()) Refuse(std::string("verifyEcdsa: ") + name + " must be a Buffer");
  Napi::Buffer<unsigned char> buffer = info[i].As<Napi::Buffer<unsigned char>>();
  if (buffer.Length() > kMaxInput) Refuse(std::string("verifyEcdsa: ") + name + " is over 64 KiB");
  return std::vector<unsigned char>(buffer.Data(), buffer.Data() + buffer.Length());
}

struct EcKeyFree {
  void operator()(EC_KEY* key) const { EC_KEY_free(key); }
};
struct EcPointFree {
  void operator()(EC_POINT* point) const { EC_POINT_free(point); }
};

/** What the JS side is told (src/native/ecdsa-verify.ts reads these numbers). */
enum Verdict { kValid = 0, kInvalidSignature = 1, kInvalidKey = 2 };

/** The check, on a pool thread: only this job's own objects are touched. */
Verdict Verify(const Curve& curve, const Hash& hash, const std::vector<unsigned char>& point, const std::vector<unsigned char>& data,
            const std::vector<unsigned char>& signature) {
  std::unique_ptr<EC_KEY, EcKeyFree> key(EC_KEY_new_by_curve_name(curve.nid));
  if (!key) return kInvalidSignature;
  const EC_GROUP* group = EC_KEY_get0_group(key.get());
  std::unique_ptr<EC_POINT, EcPointFree> q(EC_POINT_new(group));
  if (!q) return kInvalidSignature;
  // oct2point sets the affine coordinates, which OpenSSL refuses for a point not on the curve;
  // the explicit checks say so here rather than rely on it.
  if (EC_POINT_oct2point(group, q.get(), point.data(), point.size(), nullptr) != 1) return kInvalidKey;
  if (EC_POINT_is_at_infinity(group, q.get()) || EC_POINT_is_on_curve(group, q.get(), nullptr) != 1) return kInvalidKey;
  if (EC_KEY_set_public_key(key.get(), q.get()) != 1) return kInvalidKey;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digestLength = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &digestLength, hash.md(), nullptr) != 1) return kInvalidSignature;
  // 1: valid; 0: does not verify; -1: not a strict DER ECDSA-Sig-Value, or an internal failure.
  int ok = ECDSA_verify(0, digest, static_cast<int>(digestLength), signature.data(), static_cast<int>(signature.size()), key.get());
  return ok == 1 ? kValid : kInvalidSignature;
}

class VerifyWorker : public Napi::AsyncWorker {
 public:
  VerifyWorker(Napi::Function callback, const Curve& curve, const Hash& hash, std::vector<unsigned char> point, std::vector<unsigned char> data,
               std::vector<unsigned char> signature)
      : Napi::AsyncWorker(callback, "hsmkms:verifyEcdsa"),
        curve_(curve),
        hash_(hash),
        point_(std::move(point)),
        data_(std::move(data)),
        signature_(std::move(signature)) {}

  void Execute() override {
    verdict_ = Verify(curve_, hash_, point_, data_, signature_);
    // A refused signature leaves errors in this pool thread's queue, where they would show up in
    // whatever node:crypto runs next on it.
    ERR_clear_error();
  }

  void OnOK() override { Callback().Call({Env().Null(), Napi::Number::New(Env(), verdict_)}); }

 private:
  const Curve& curve_;
  const Hash& hash_;
  std::vector<unsigned char> point_;
  std::vector<unsigned char> data_;
  std::vector<unsigned char> signature_;
  Verdict verdict_ = kInvalidSignature;
};

}  // namespace

Napi::Value VerifyEcdsa(const Napi::CallbackInfo& info) {
  if (info.Length() < 6 || !info[0].IsString() || !info[2].IsString() || !info[5].IsFunction())
    Refuse("verifyEcdsa(curve, point, hash, data, signature, callback)");
  const std::string curveName = info[0].As<Napi::String>().Utf8Value();
  const std::string hashName = info[2].As<Napi::String>().Utf8Value();
  const Curve* curve = nullptr;
  for (const Curve& c : kCurves)
    if (curveName == c.name) curve = &c;
  const Hash* hash = nullptr;
  for (const Hash& h : kHashes)
    if (hashName == h.name) hash = &h;
  if (!curve) Refuse("verifyEcdsa: curve must be P-256 or P-384");
  if (!hash) Refuse("verifyEcdsa: hash must be sha1, sha256, sha384 or sha512");
  std::vector<unsigned char> point = BufferArg(info, 1, "point");
  if (point.size() != 1 + 2 * curve->fieldBytes || point[0] != 0x04) Refuse("verifyEcdsa: point must be uncompressed (0x04 || X || Y) on the curve's size");
  std::vector<unsigned char> data = BufferArg(info, 3, "data");
  std::vector<unsigned char> signature = BufferArg(info, 4, "signature");
  auto* worker = new VerifyWorker(info[5].As<Napi::Function>(), *curve, *hash, std::move(point), std::move(data), std::move(signature));
  worker->Queue();
  return info.Env().Undefined();
}

}  // namespace hsmkms
