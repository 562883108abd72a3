#include "sign-thread.h"

#include <system_error>
#include <thread>

#include "errors.h"

namespace hsmkms {

std::shared_ptr<SignThread> SignThread::Start() {
  auto thread = std::shared_ptr<SignThread>(new SignThread());
  try {
    // Detached: an abandoned thread may wait on the HSM longer than anyone could join it.
    std::thread([self = thread] { self->Loop(); }).detach();
  } catch (const std::system_error& e) {
    Fail("ERR_HSM_ADDON", std::string("Cannot start the thread that signs with the HSM: ") + e.what());
  }
  return thread;
}

bool SignThread::Run(const std::shared_ptr<SignCall>& call, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  call_ = call;
  finished_ = false;
  work_.notify_one();
  if (done_.wait_until(lock, deadline, [this] { return finished_; })) {
    call_.reset();
    return true;
  }
  abandoned_ = true;
  return false;
}

void SignThread::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  work_.notify_one();
}

void SignThread::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || (call_ && !finished_); });
    if (!call_ || finished_) return;  // stopped, with nothing left to make
    std::shared_ptr<SignCall> call = call_;
    lock.unlock();
    CK_MECHANISM mechanism = {call->mechanism, call->parameter.empty() ? nullptr : call->parameter.data(), static_cast<CK_ULONG>(call->parameter.size())};
    call->signRv = CKR_OK;
    call->length = 0;
    call->initRv = call->fn->C_SignInit(call->session, &mechanism, call->key);
    if (call->initRv == CKR_OK) {
      call->length = call->signature.size();
      call->signRv = call->fn->C_Sign(call->session, call->data.data(), call->data.size(), call->signature.data(), &call->length);
    }
    lock.lock();
    finished_ = true;
    if (abandoned_) {
      // The waiter gave up on this call and forgot its session: it is this thread's to close
      // (the session was open, and nobody has used it since, so its number is still ours).
      call_.reset();
      lock.unlock();
      call->fn->C_CloseSession(call->session);  // result irrelevant: the session is not used again
      returned_.store(true, std::memory_order_release);
      return;
    }
    done_.notify_one();
  }
}

}  // namespace hsmkms
