#include "token.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <unistd.h>

#include <map>

#include "errors.h"
#include "session-codes.h"

namespace hsmkms {

std::atomic<uint64_t> Token::reconnects{0};
std::atomic<uint64_t> Token::signTimeouts{0};
std::atomic<uint64_t> Token::signsRefusedWhileHung{0};

namespace {

// Which side of a fork() this process is on: bumped in the child, whose copy of a session
// belongs to the parent. Asked at every signature, so not getpid(): that is a system call
// (~1 µs of CPU on the development VM, about what the rest of our engine costs per signature).
// Should the handler fail to register, the process id serves as before.
std::atomic<uint64_t> forkEpoch{0};
void OnForkChild() { forkEpoch.fetch_add(1, std::memory_order_relaxed); }
const int forkHandler = pthread_atfork(nullptr, nullptr, OnForkChild);

uint64_t ForkEpoch() { return forkHandler == 0 ? forkEpoch.load(std::memory_order_relaxed) : static_cast<uint64_t>(getpid()); }

std::mutex modulesMu;
std::map<std::string, std::shared_ptr<Module>>& Modules() {
  static auto* modules = new std::map<std::string, std::shared_ptr<Module>>();
  return *modules;
}

/** Token labels and serials are fixed-width and blank-padded. */
std::string Trim(const unsigned char* field, size_t size) {
  std::string s(reinterpret_cast<const char*>(field), size);
  size_t end = s.find_last_not_of(" \0", std::string::npos, 2);
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}

/** A SHA-256 of the PIN: what is kept of a refused one, never a second copy of it. */
std::string PinDigest(const std::string& pin) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(pin.data(), pin.size(), digest, &size, EVP_sha256(), nullptr) != 1)
    Fail("ERR_HSM_ADDON", "Cannot compute a digest of the PIN (OpenSSL's SHA-256 failed).");
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string Describe(const TokenConfig& c) {
  std::string what = !c.label.empty() ? "labelled \"" + c.label + "\"" : "with serial " + c.serial;
  if (!c.label.empty() && !c.serial.empty()) what += " and serial " + c.serial;
  return what;
}

}  // namespace

std::shared_ptr<Module> Module::Load(const std::string& path) {
  std::lock_guard<std::mutex> lock(modulesMu);
  auto found = Modules().find(path);
  if (found != Modules().end()) return found->second;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    Fail("ERR_PKCS11_MODULE", "Cannot load the PKCS#11 module " + path + ": " + (why ? why : "unknown error"));
  }
  auto getList = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  if (getList == nullptr) {
    dlclose(handle);
    Fail("ERR_PKCS11_MODULE", path + " is not a PKCS#11 module (no C_GetFunctionList).");
  }
  auto module = std::make_shared<Module>();
  module->path_ = path;
  module->handle_ = handle;
  Check(getList(&module->fn_), "C_GetFunctionList");
  Modules()[path] = module;
  return module;
}

void Module::Initialize() {
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = fn_->C_Initialize(&args);
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) return;
  Check(rv, "C_Initialize");
}

#define HSMKMS_CASE(code) case code:
bool IsSessionGone(CK_RV rv) {
  switch (rv) {
    HSMKMS_SESSION_GONE_CODES(HSMKMS_CASE)
      return true;
    default:
      return false;
  }
}

bool IsSessionFatal(CK_RV rv) {
  switch (rv) {
    HSMKMS_SESSION_GONE_CODES(HSMKMS_CASE)
    HSMKMS_SESSION_FATAL_CODES(HSMKMS_CASE)
      return true;
    default:
      return false;
  }
}

bool IsAmbiguous(CK_RV rv) {
  switch (rv) {
    HSMKMS_AMBIGUOUS_CODES(HSMKMS_CASE)
      return true;
    default:
      return false;
  }
}
#undef HSMKMS_CASE

Token::Token(TokenConfig config) : config_(std::move(config)), callTimeout_(config_.callTimeout) { module_ = Module::Load(config_.modulePath); }

Token::~Token() {
  // The session is left open on purpose when the process is exiting; closing it here could
  // race with pkcs11js finalising the same library. Only the PIN is wiped.
  OPENSSL_cleanse(config_.pin.data(), config_.pin.size());
  if (signer_ && signerEpoch_ == ForkEpoch()) signer_->Stop();
}

bool Token::Matches(const std::string& modulePath, const std::string& label, const std::string& serial) const {
  return config_.modulePath == modulePath && config_.label == label && config_.serial == serial;
}

void Token::SetPin(const std::string& pin) {
  std::lock_guard<std::mutex> lock(mu_);
  OPENSSL_cleanse(config_.pin.data(), config_.pin.size());
  config_.pin = pin;
}

void Token::SetCallTimeout(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  callTimeout_ = timeout;
}

void Token::Connect() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!connected_ || epoch_ != ForkEpoch()) ConnectLocked();
}

void Token::ForgetSessionLocked() {
  connected_ = false;
  session_ = CK_INVALID_HANDLE;
}

void Token::DropLocked() {
  // After a fork the handles belong to the parent: forget them without closing anything.
  if (connected_ && epoch_ == ForkEpoch()) module_->fn()->C_CloseSession(session_);  // result irrelevant: it is being replaced
  connected_ = false;
  session_ = CK_INVALID_HANDLE;
}

void Token::ConnectLocked() {
  DropLocked();
  CK_FUNCTION_LIST_PTR fn = module_->fn();
  module_->Initialize();
  CK_ULONG count = 0;
  Check(fn->C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList");
  std::vector<CK_SLOT_ID> slots(count);
  Check(fn->C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList");
  slots.resize(count);
  bool found = false;
  CK_SLOT_ID slot = 0;
  std::string manufacturer;
  for (CK_SLOT_ID candidate : slots) {
    CK_TOKEN_INFO info;
    CK_RV rv = fn->C_GetTokenInfo(candidate, &info);
    if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED) continue;
    Check(rv, "C_GetTokenInfo");
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    if (!config_.label.empty() && Trim(info.label, sizeof info.label) != config_.label) continue;
    if (!config_.serial.empty() && Trim(info.serialNumber, sizeof info.serialNumber) != config_.serial) continue;
    slot = candidate;
    manufacturer = Trim(info.manufacturerID, sizeof info.manufacturerID);
    found = true;
    break;
  }
  if (!found)
    throw HsmError("ERR_TOKEN_NOT_FOUND", CKR_OK, "C_GetTokenInfo",
                   "No token " + Describe(config_) + " in the PKCS#11 module " + config_.modulePath +
                       " (list them with: pkcs11-tool --module " + config_.modulePath + " --list-slots).");
  CK_SESSION_HANDLE session;
  Check(fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session), "C_OpenSession");
  std::string pinDigest = PinDigest(config_.pin);
  if (!refusedPin_.empty() && CRYPTO_memcmp(pinDigest.data(), refusedPin_.data(), pinDigest.size()) == 0) {
    // The login is the application's: a session opened while another part of this process (the
    // KMS backend, which reads a rotated PIN file again) is logged in needs no login of its own.
    CK_SESSION_INFO info;
    bool loggedIn = fn->C_GetSessionInfo(session, &info) == CKR_OK && (info.state == CKS_RO_USER_FUNCTIONS || info.state == CKS_RW_USER_FUNCTIONS);
    if (!loggedIn) {
      fn->C_CloseSession(session);  // result irrelevant: the refusal is what gets reported
      throw HsmError(CkrName(CKR_PIN_INCORRECT), CKR_PIN_INCORRECT, "C_Login",
                     "Login to the token " + Describe(config_) +
                         " not tried: the token refused this PIN (CKR_PIN_INCORRECT) at an earlier login, so it is not sent again (each refusal "
                         "counts towards locking the user out); handshakes sign again once this process logs in with the right PIN (under `hsmkms serve`, the KMS "
                         "backend's next login, which reads a rotated PIN file again) or after a restart with it.");
    }
  } else {
    CK_RV rv = fn->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(config_.pin.data()), config_.pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      fn->C_CloseSession(session);  // result irrelevant: the login failure is what gets reported
      if (rv == CKR_PIN_INCORRECT) refusedPin_ = pinDigest;
      std::string name = CkrName(rv);
      std::string message = "Login to the token " + Describe(config_) + " failed (" + name + ")";
      if (rv == CKR_PIN_INCORRECT) message += ": the PIN is wrong";
      if (rv == CKR_PIN_LOCKED) message += ": the PIN is locked";
      throw HsmError(name, rv, "C_Login", message + ".");
    }
  }
  session_ = session;
  sessionCopies_ = manufacturer == "SoftHSM project";
  connected_ = true;
  epoch_ = ForkEpoch();
  generation_++;
}

void Token::WithSession(const std::function<void(CK_FUNCTION_LIST_PTR, CK_SESSION_HANDLE, uint64_t)>& op) {
  std::lock_guard<std::mutex> lock(mu_);
  RefuseWhileHungLocked();
  if (!connected_ || epoch_ != ForkEpoch()) ConnectLocked();
  try {
    op(module_->fn(), session_, generation_);
    return;
  } catch (const HsmError& e) {
    // A session the module closed itself is forgotten, not closed: its number may be another
    // session's by now (an HSM that reuses numbers, another part of this process).
    if (IsSessionGone(e.ckr())) ForgetSessionLocked();
    // An ambiguous code from a session that still answers, logged in, was the call's own failure.
    if (IsAmbiguous(e.ckr()) && SessionAnswersLocked()) throw;
    if (!IsSessionFatal(e.ckr()) && !IsAmbiguous(e.ckr())) throw;
  }
  reconnects++;
  ConnectLocked();
  op(module_->fn(), session_, generation_);
}

void Token::RefuseWhileHungLocked() {
  // A thread started before a fork does not exist in the child, nor does its call.
  if (!hung_ || hungEpoch_ != ForkEpoch() || hung_->Returned()) {
    hung_.reset();
    return;
  }
  signsRefusedWhileHung++;
  throw HsmError("ERR_HSM_TIMEOUT", CKR_OK, "C_Sign",
                 "The HSM has not yet answered a signature given up after " + std::to_string(callTimeout_.count()) +
                     " ms (the HSM call timeout, --hsm-call-timeout); the token is not used until it does.");
}

void Token::Sign(const std::shared_ptr<SignCall>& call) {
  call->fn = module_->fn();
  call->session = session_;
  if (!signer_ || signerEpoch_ != ForkEpoch()) {
    // Not stopped when from before a fork: that thread and its lock belong to the parent.
    signer_ = SignThread::Start();
    signerEpoch_ = ForkEpoch();
  }
  if (signer_->Run(call, std::chrono::steady_clock::now() + callTimeout_)) return;
  // The call still runs in the module, on this session: nobody uses either again. The thread
  // closes the session when the call returns; the next signature opens (and finds its key in) a
  // new one: logged in already while another session of the process holds the login (logins are
  // the application's), or logged in again by ConnectLocked when that session was the last.
  signTimeouts++;
  hung_ = std::move(signer_);
  hungEpoch_ = signerEpoch_;
  ForgetSessionLocked();
  throw HsmError("ERR_HSM_TIMEOUT", CKR_OK, "C_Sign",
                 "The HSM did not answer a signature (C_SignInit/C_Sign) within " + std::to_string(callTimeout_.count()) +
                     " ms (the HSM call timeout, --hsm-call-timeout); it was given up, and the token is not used until the HSM answers it.");
}

bool Token::SessionAnswersLocked() {
  CK_SESSION_INFO info;
  CK_RV rv = module_->fn()->C_GetSessionInfo(session_, &info);
  if (IsSessionGone(rv)) ForgetSessionLocked();
  if (rv != CKR_OK) return false;
  return info.state == CKS_RO_USER_FUNCTIONS || info.state == CKS_RW_USER_FUNCTIONS;
}

void Token::DestroyObject(CK_OBJECT_HANDLE object, uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  // Objects of an earlier session, or of the parent before a fork, went with that session.
  if (!connected_ || epoch_ != ForkEpoch() || generation != generation_) return;
  module_->fn()->C_DestroyObject(session_, object);  // failure means it is gone already
}

void Token::ForgetObjects() {
  std::lock_guard<std::mutex> lock(mu_);
  generation_++;
}

}  // namespace hsmkms
