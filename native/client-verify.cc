#include "client-verify.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <list>
#include <mutex>
#include <thread>

#include "errors.h"

// How it reaches Node's contexts: Node creates an SSL_CTX synchronously when a TLS server is
// built, and OpenSSL calls the "new" callback of every registered SSL_CTX ex_data index while
// it does. Armed for the duration of that call only, the callback installs our verifier with
// SSL_CTX_set_cert_verify_callback, which Node does not use. The verifier runs OpenSSL's own
// chain check, then the subject check; on failure it reports X509_V_ERR_APPLICATION_VERIFICATION,
// which OpenSSL answers with the handshake_failure alert.

namespace hsmkms {
namespace {

struct Policy {
  std::string subject;
};

std::mutex mutex;
int exIndex = -1;
bool armed = false;
std::thread::id armedThread;
Policy* armedPolicy = nullptr;
int hooked = 0;
// Policies live as long as the process: a context may verify clients until the process ends.
std::list<Policy> policies;

bool SubjectMatches(X509* leaf, const std::string& subject) {
  // DNS subjectAltNames, and the CN as well (AWS KMS presents CN=cks.kms.<region>.amazonaws.com).
  return X509_check_host(leaf, subject.data(), subject.size(), X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                         nullptr) == 1;
}

int VerifyClient(X509_STORE_CTX* store, void* arg) {
  const Policy* policy = static_cast<const Policy*>(arg);
  // Node's per-connection verify callback accepts every error (it judges after the handshake),
  // so the chain's verdict is read from the error it leaves behind.
  int ok = X509_verify_cert(store);
  bool good = ok > 0 && X509_STORE_CTX_get_error(store) == X509_V_OK;
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (good) good = leaf != nullptr && SubjectMatches(leaf, policy->subject);
  if (good) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

void OnNewContext(void* parent, void*, CRYPTO_EX_DATA*, int, long, void*) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!armed || std::this_thread::get_id() != armedThread || parent == nullptr) return;
  SSL_CTX_set_cert_verify_callback(static_cast<SSL_CTX*>(parent), VerifyClient, armedPolicy);
  hooked++;
}

}  // namespace

void ArmClientVerify(const std::string& subject) {
  if (subject.empty()) Fail("ERR_CLIENT_SUBJECT", "The client certificate subject must not be empty.");
  std::lock_guard<std::mutex> lock(mutex);
  if (exIndex < 0) {
    exIndex = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, nullptr, OnNewContext, nullptr, nullptr);
    if (exIndex < 0) Fail("ERR_OPENSSL", "OpenSSL refused an SSL_CTX ex_data index.");
  }
  policies.push_back(Policy{subject});
  armedPolicy = &policies.back();
  armedThread = std::this_thread::get_id();
  hooked = 0;
  armed = true;
}

int DisarmClientVerify() {
  std::lock_guard<std::mutex> lock(mutex);
  armed = false;
  armedPolicy = nullptr;
  return hooked;
}

}  // namespace hsmkms
