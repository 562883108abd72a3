#include "key-uri.h"

#include "errors.h"

namespace hsmkms {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
    int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) Fail("ERR_PKCS11_URI", "Malformed percent-encoding in the pkcs11: URI.");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

KeyUri ParseKeyUri(const std::string& uri) {
  static const std::string kScheme = "pkcs11:";
  if (uri.compare(0, kScheme.size(), kScheme) != 0)
    Fail("ERR_PKCS11_URI", "A key URI must start with pkcs11: (RFC 7512).");
  std::string rest = uri.substr(kScheme.size());
  std::string path = rest, query;
  size_t q = rest.find('?');
  if (q != std::string::npos) {
    path = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  KeyUri out;
  auto each = [](const std::string& s, char sep, auto fn) {
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(sep, start);
      if (end == std::string::npos) end = s.size();
      std::string part = s.substr(start, end - start);
      if (!part.empty()) {
        size_t eq = part.find('=');
        if (eq == std::string::npos) Fail("ERR_PKCS11_URI", "Each pkcs11: URI attribute needs a value (name=value).");
        fn(part.substr(0, eq), PercentDecode(part.substr(eq + 1)));
      }
      start = end + 1;
    }
  };
  each(path, ';', [&](const std::string& name, const std::string& value) {
    if (name == "token") out.token = value;
    else if (name == "serial") out.serial = value;
    else if (name == "object") out.object = value;
    else if (name == "id") {
      out.id.assign(value.begin(), value.end());
      out.hasId = true;
    } else if (name == "type") out.type = value;
    // manufacturer, model, library-* and vendor attributes do not narrow the key further.
  });
  each(query, '&', [&](const std::string& name, const std::string&) {
    if (name == "pin-value")
      Fail("ERR_PKCS11_URI", "The pkcs11: URI carries a PIN (pin-value); give the PIN through a PIN file or environment variable instead.");
  });
  if (!out.type.empty() && out.type != "private")
    Fail("ERR_PKCS11_URI", "The pkcs11: URI must name a private key (type=private), not type=" + out.type + ".");
  if (out.object.empty() && !out.hasId)
    Fail("ERR_PKCS11_URI", "The pkcs11: URI must name the key by object= (label) or id=.");
  return out;
}

}  // namespace hsmkms
