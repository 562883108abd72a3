// One error type crosses every layer of the addon: a failed PKCS#11 call (ckr != CKR_OK) or a
// problem found by the addon itself (ckr == CKR_OK, code names it). addon.cc turns it into a JS
// Error with `code`, `ckr` and `fn` properties; nothing downstream parses message strings.
#pragma once

#include <stdexcept>
#include <string>

#include "cryptoki.h"

namespace hsmkms {

class HsmError : public std::runtime_error {
 public:
  HsmError(std::string code, CK_RV ckr, std::string fn, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)), ckr_(ckr), fn_(std::move(fn)) {}

  const std::string& code() const { return code_; }
  CK_RV ckr() const { return ckr_; }
  const std::string& fn() const { return fn_; }

 private:
  std::string code_;
  CK_RV ckr_;
  std::string fn_;
};

/** The CKR_* name of a return value ("CKR_0x…" for vendor codes). */
std::string CkrName(CK_RV rv);

/** Throws an HsmError named after the return value when rv != CKR_OK. */
void Check(CK_RV rv, const char* fn);

/** Throws an error found by the addon itself (no PKCS#11 return code involved). */
[[noreturn]] void Fail(const std::string& code, const std::string& message);

}  // namespace hsmkms
