#include "token-registry.h"

#include <mutex>
#include <vector>

#include "errors.h"

namespace hsmkms {
namespace {

std::mutex registryMu;
std::vector<std::shared_ptr<Token>>& Registry() {
  static auto* tokens = new std::vector<std::shared_ptr<Token>>();  // never destroyed: OpenSSL may use it at exit
  return *tokens;
}

}  // namespace

std::shared_ptr<Token> OpenToken(const TokenConfig& config) {
  std::shared_ptr<Token> token;
  {
    std::lock_guard<std::mutex> lock(registryMu);
    for (auto& t : Registry())
      if (t->Matches(config.modulePath, config.label, config.serial)) token = t;
    if (!token) {
      token = std::make_shared<Token>(config);
      Registry().push_back(token);
    } else {
      token->SetPin(config.pin);
      token->SetCallTimeout(config.callTimeout);
    }
  }
  token->Connect();
  return token;
}

std::shared_ptr<Token> TokenForUri(const KeyUri& uri) {
  std::lock_guard<std::mutex> lock(registryMu);
  std::vector<std::shared_ptr<Token>> matches;
  for (auto& t : Registry()) {
    const TokenConfig& c = t->config();
    if (!uri.token.empty() && !c.label.empty() && uri.token != c.label) continue;
    if (!uri.serial.empty() && !c.serial.empty() && uri.serial != c.serial) continue;
    if (uri.token.empty() && uri.serial.empty() && Registry().size() > 1) continue;
    matches.push_back(t);
  }
  if (matches.empty()) {
    if (Registry().empty()) Fail("ERR_TOKEN_NOT_OPEN", "No token is open; configure the HSM (module, token, PIN) before loading keys.");
    Fail("ERR_TOKEN_NOT_OPEN", "The pkcs11: URI names a token that is not configured (or, with several tokens, names none); add token= to it.");
  }
  return matches.front();
}

size_t ForgetObjects(const std::string& modulePath) {
  std::vector<std::shared_ptr<Token>> tokens;
  {
    std::lock_guard<std::mutex> lock(registryMu);
    for (auto& t : Registry())
      if (t->config().modulePath == modulePath) tokens.push_back(t);
  }
  for (auto& t : tokens) t->ForgetObjects();  // outside registryMu: a token's lock may be held by a signature
  return tokens.size();
}

}  // namespace hsmkms
