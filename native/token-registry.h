// The tokens opened by JavaScript, for the ENGINE to find by URI. Process-wide on purpose:
// the ENGINE it serves is process-wide in OpenSSL, and OpenSSL callbacks must not call
// back into JavaScript to ask.
#pragma once

#include <memory>

#include "key-uri.h"
#include "token.h"

namespace hsmkms {

/** Opens (or re-uses) the token and logs in now, so start-up reports a wrong PIN or a missing token. */
std::shared_ptr<Token> OpenToken(const TokenConfig& config);

/** The opened token a URI names (token=/serial=), or the only one opened. */
std::shared_ptr<Token> TokenForUri(const KeyUri& uri);

/** Token::ForgetObjects on every opened token of the module at `modulePath`; how many there were. */
size_t ForgetObjects(const std::string& modulePath);

}  // namespace hsmkms
