// PKCS#11 module loading and the logged-in session of one token.
//
// One session per token, serialised by a mutex: TLS signs on Node's main thread, so a pool
// would add nothing but more state to recover. The session is re-opened (and the user logged
// in again) after return codes that mean it is gone: an invalidated handle, a device error,
// a token removed and back, a library finalised by someone else, or a fork. Signatures are made
// on a thread of the token's own and waited for at most the call timeout (sign-thread.h); a
// session whose signature was given up is never used again, and the next one is opened once
// that call has returned.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "cryptoki.h"
#include "sign-thread.h"

namespace hsmkms {

/** A dlopen()ed PKCS#11 library. Loaded once per path and never unloaded or C_Finalize()d:
 *  pkcs11js (the KMS backend) may be using the same library in this process. */
class Module {
 public:
  static std::shared_ptr<Module> Load(const std::string& path);
  CK_FUNCTION_LIST_PTR fn() const { return fn_; }
  const std::string& path() const { return path_; }
  /** C_Initialize; CKR_CRYPTOKI_ALREADY_INITIALIZED counts as success. */
  void Initialize();

 private:
  std::string path_;
  void* handle_ = nullptr;
  CK_FUNCTION_LIST_PTR fn_ = nullptr;
};

struct TokenConfig {
  std::string modulePath;
  std::string label;   // empty: any label
  std::string serial;  // empty: any serial
  std::string pin;
  /** How long a signature may take (the KMS backend's --hsm-call-timeout; openToken always passes it). */
  std::chrono::milliseconds callTimeout{30000};
};

class Token {
 public:
  explicit Token(TokenConfig config);
  ~Token();
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  /**
   * Runs `op` with the logged-in session. When `op` fails with a session-fatal return code,
   * reconnects once and runs it again. `generation` changes with every reconnect, so callers
   * know that cached object handles must be looked up again.
   */
  void WithSession(const std::function<void(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session, uint64_t generation)>& op);

  bool Matches(const std::string& modulePath, const std::string& label, const std::string& serial) const;
  const TokenConfig& config() const { return config_; }
  void SetPin(const std::string& pin);
  void SetCallTimeout(std::chrono::milliseconds timeout);

  /**
   * C_SignInit + C_Sign of `call` (made with WithSession's session) on the token's sign thread,
   * waited for at most the call timeout; call inside WithSession. Past it, throws ERR_HSM_TIMEOUT
   * and sets the session aside for the sign thread to close once the call returns; until then
   * WithSession fails at once with ERR_HSM_TIMEOUT (one abandoned call per token, no pile of threads).
   */
  void Sign(const std::shared_ptr<SignCall>& call);

  /** Signatures given up at the deadline, and refused at once while one of them was outstanding. */
  static std::atomic<uint64_t> signTimeouts, signsRefusedWhileHung;
  /** Connects now so that a wrong PIN or a missing token is reported at start-up. */
  void Connect();

  /**
   * Destroys a session object made on the session of `generation`; nothing when the session has
   * been replaced since (the object went with it).
   */
  void DestroyObject(CK_OBJECT_HANDLE object, uint64_t generation);

  /**
   * Ends the generation: object handles looked up before are looked up again, never used or
   * destroyed. For another user of the module in this process whose login was lost and renewed
   * (the login is the application's): the logout destroyed this session's private objects too,
   * yet the session goes on answering, logged in, and an HSM that reuses handle numbers may have
   * given an old number to another object. A working copy that did survive (no logout after all)
   * stays in the session until it closes: one object per call, never a stale number destroyed.
   */
  void ForgetObjects();

  /**
   * Whether keys kept for signing should sign through a session copy: only for SoftHSM2 (its
   * C_GetTokenInfo manufacturer), which re-checks a token object's files whenever a call uses it
   * (ObjectFile::isValid → refresh → OSToken::index and Generation::wasUpdated: open, stat, fcntl
   * locks, read, close) but keeps session objects in memory. Other tokens gain nothing from a copy and may count or audit it, so
   * they sign with the stored key. Decided by the module, never by a peer; call inside WithSession.
   */
  bool PrefersSessionCopies() const { return sessionCopies_; }

  static std::atomic<uint64_t> reconnects;

 private:
  void ConnectLocked();
  /** Closes the session (when it is this process's) and forgets it. */
  void DropLocked();
  /** Forgets the session without closing it: the module said it is closed already (session-codes.h). */
  void ForgetSessionLocked();
  /**
   * Whether the session still answers, logged in: the cheap test before believing an ambiguous
   * code. A session the test finds closed already is forgotten.
   */
  bool SessionAnswersLocked();
  /** Throws ERR_HSM_TIMEOUT while a signature given up is still outstanding in the module. */
  void RefuseWhileHungLocked();

  TokenConfig config_;
  std::shared_ptr<Module> module_;
  std::mutex mu_;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool connected_ = false;
  uint64_t epoch_ = 0;  // the fork epoch (token.cc) the session was opened in
  uint64_t generation_ = 0;
  bool sessionCopies_ = false;
  std::chrono::milliseconds callTimeout_;
  /** The thread signatures are made on, started on first use (in the fork epoch `signerEpoch_`). */
  std::shared_ptr<SignThread> signer_;
  uint64_t signerEpoch_ = 0;
  /** The thread of a signature given up at the deadline, until its call returns (in `hungEpoch_`). */
  std::shared_ptr<SignThread> hung_;
  uint64_t hungEpoch_ = 0;
  /**
   * A SHA-256 of the last PIN the token refused (CKR_PIN_INCORRECT), empty when none: that PIN is
   * not sent again. A handshake (an unauthenticated client) can make the addon reconnect, and every
   * refused login counts towards locking the user out (CloudHSM locks a Crypto User after a few);
   * the same rule as the KMS backend's (session-runtime.ts `login`). A different PIN is tried.
   */
  std::string refusedPin_;
};

/** Return codes after which the session (or the library state behind it) must be rebuilt (session-codes.h). */
bool IsSessionFatal(CK_RV rv);

/** Return codes that say the session is closed already: it is forgotten, never closed (session-codes.h). */
bool IsSessionGone(CK_RV rv);

/** Return codes that mean bad input or a broken session: the session is tested before reconnecting. */
bool IsAmbiguous(CK_RV rv);

}  // namespace hsmkms
