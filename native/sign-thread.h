// C_SignInit + C_Sign on a thread of their own, waited for at most a deadline. TLS signs inside
// OpenSSL's handshake callback on Node's main thread, and PKCS#11 cannot cancel a call: a hung
// HSM would hold that thread, every request and health check of the process with it, for ever.
// Past the deadline the waiter goes on and the thread is abandoned to the call: when the call
// returns at last, the thread closes the call's session (nobody else uses it again) and ends.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "cryptoki.h"

namespace hsmkms {

/** One signature: everything the thread reads or writes is owned here, so an abandoned call touches no freed memory. */
struct SignCall {
  CK_FUNCTION_LIST_PTR fn = nullptr;  // fn and session: set by Token::Sign
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_MECHANISM_TYPE mechanism = 0;
  std::vector<unsigned char> parameter;  // the mechanism's parameter bytes (CK_RSA_PKCS_PSS_PARAMS)
  std::vector<unsigned char> data;
  std::vector<unsigned char> signature;  // sized by the caller: the room the token is given
  CK_ULONG length = 0;                   // what C_Sign reported
  CK_RV initRv = CKR_OK, signRv = CKR_OK;
};

/**
 * A thread that makes signatures handed to it, one at a time. Lives as long as its thread: the
 * thread holds a reference, so a SignThread whose call was abandoned outlives every other owner.
 */
class SignThread : public std::enable_shared_from_this<SignThread> {
 public:
  /** Starts a thread; throws ERR_HSM_ADDON when the system refuses one. */
  static std::shared_ptr<SignThread> Start();

  /**
   * Hands `call` to the thread and waits until `deadline`. True: the call was made (its return
   * codes are in `call`). False: no answer in time; the thread is abandoned to the call, closes
   * its session once it returns and ends, and takes no more calls (see Returned).
   */
  bool Run(const std::shared_ptr<SignCall>& call, std::chrono::steady_clock::time_point deadline);

  /** Whether an abandoned call has returned (its session closed, the thread ending). */
  bool Returned() const { return returned_.load(std::memory_order_acquire); }

  /** Ends the thread once it is idle (an abandoned call's thread ends on its own). */
  void Stop();

 private:
  SignThread() = default;
  void Loop();

  std::mutex mu_;
  std::condition_variable work_, done_;
  std::shared_ptr<SignCall> call_;  // the call handed over, until it is done
  bool finished_ = false;          // call_ was made
  bool abandoned_ = false;
  bool stop_ = false;
  std::atomic<bool> returned_{false};
};

}  // namespace hsmkms
