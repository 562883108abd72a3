#include "key-uri.h"

#include <set>

#include "errors.h"

// The grammar is the TypeScript parser's (src/backend/pkcs11/uri.ts), attribute for attribute;
// test/native/key-uri.test.ts runs both over test/native/pkcs11-uri-vectors.json.

namespace hsmkms {
namespace {

[[noreturn]] void Bad(const std::string& message) { Fail("ERR_PKCS11_URI", message); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(const std::string& in, const std::string& name) {
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
    int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) Bad("Invalid percent-encoding in the pkcs11: URI attribute " + name + ".");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

/** Whether `s` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
bool IsUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    size_t extra;
    unsigned int cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= extra; k++) {
      if (i + k >= n || (p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

KeyUri ParseKeyUri(const std::string& uri) {
  static const std::string kScheme = "pkcs11:";
  if (uri.size() < kScheme.size() || Lower(uri.substr(0, kScheme.size())) != kScheme) Bad("A PKCS#11 URI starts with \"pkcs11:\" (RFC 7512).");
  std::string rest = uri.substr(kScheme.size());
  std::string path = rest, query;
  size_t q = rest.find('?');
  if (q != std::string::npos) {
    path = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  KeyUri out;
  std::set<std::string> seen;
  auto take = [&](const std::string& part) {
    size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0) Bad("The pkcs11: URI attribute \"" + part.substr(0, eq) + "\" has no value.");
    std::string name = Lower(part.substr(0, eq));
    if (!seen.insert(name).second) Bad("The pkcs11: URI names " + name + " twice.");
    if (name == "pin-value")
      Bad("The pkcs11: URI carries a PIN (pin-value); give the PIN through a PIN file or environment variable instead.");
    std::string value = PercentDecode(part.substr(eq + 1), name);
    if (name == "id") {
      out.id.assign(value.begin(), value.end());
      out.hasId = true;
      return;
    }
    if (!IsUtf8(value)) Bad("The pkcs11: URI attribute " + name + " is not UTF-8.");
    if (name == "token") out.token = value;
    else if (name == "serial") out.serial = value;
    else if (name == "object") out.object = value;
    else if (name == "type") {
      if (value != "public" && value != "private" && value != "secret-key" && value != "cert" && value != "data")
        Bad("The pkcs11: URI type must be one of public, private, secret-key, cert, data.");
      out.type = value;
    } else if (name == "slot-id") {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) Bad("The pkcs11: URI slot-id must be a decimal number.");
    }
    // manufacturer, model, library-*, module-path, pin-source and vendor attributes do not
    // narrow the key further.
  };
  auto each = [&](const std::string& s, char sep) {
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(sep, start);
      if (end == std::string::npos) end = s.size();
      if (end > start) take(s.substr(start, end - start));
      start = end + 1;
    }
  };
  each(path, ';');
  each(query, '&');
  // What makes it a key URI, beyond the grammar:
  if (!out.type.empty() && out.type != "private")
    Bad("The pkcs11: URI must name a private key (type=private), not type=" + out.type + ".");
  if (out.object.empty() && !out.hasId) Bad("The pkcs11: URI must name the key by object= (label) or id=.");
  return out;
}

}  // namespace hsmkms
