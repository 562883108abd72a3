#include "file-map.h"

#include "errors.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace hsmkms {
namespace {

[[noreturn]] void Refuse(const std::string& message) { Fail("ERR_FILE_MAP", message); }

struct Mapping {
  void* address;
  size_t length;
};

void Unmap(Napi::Env, void*, Mapping* mapping) {
  munmap(mapping->address, mapping->length);
  delete mapping;
}

}  // namespace

Napi::Value MapFdReadOnly(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) Refuse("mapFdReadOnly(fd: number, length: number)");
  const double fdArg = info[0].As<Napi::Number>().DoubleValue();
  const double lengthArg = info[1].As<Napi::Number>().DoubleValue();
  if (!(fdArg >= 0 && fdArg <= INT32_MAX) || fdArg != static_cast<int>(fdArg)) Refuse("mapFdReadOnly: fd must be a descriptor number");
  if (!(lengthArg >= 1 && lengthArg <= (1 << 20)) || lengthArg != static_cast<size_t>(lengthArg)) Refuse("mapFdReadOnly: length must be 1 to 1 MiB");
  const int fd = static_cast<int>(fdArg);
  const size_t length = static_cast<size_t>(lengthArg);
  struct stat st;
  if (fstat(fd, &st) != 0) Refuse(std::string("mapFdReadOnly: fstat: ") + std::strerror(errno));
  // Reading past the end of a mapped file raises SIGBUS: only a file already long enough.
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < length)
    Refuse("mapFdReadOnly: not a regular file of at least " + std::to_string(length) + " bytes");
  void* address = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) Refuse(std::string("mapFdReadOnly: mmap: ") + std::strerror(errno));
  Mapping* mapping = new Mapping{address, length};
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, address, length, Unmap, mapping);
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", buffer);
  out.Set("dev", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_dev)));
  out.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_ino)));
  return out;
}

}  // namespace hsmkms
