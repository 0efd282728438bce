#pragma once
// Cancellation uses std::stop_source / std::stop_token throughout. This header adds the
// waiting helpers that the standard library lacks.

#include <chrono>
#include <condition_variable>
#include <stop_token>

#include "core/mutex.h"

namespace naut {

// Sleeps for `d` or until `token` is stopped. Returns false when stopped early.
template <typename Rep, typename Period>
bool SleepFor(std::chrono::duration<Rep, Period> d, std::stop_token token) {
  Mutex mu;
  std::condition_variable_any cv;
  MutexLock lock(mu);
  cv.wait_for(lock, token, d, [] { return false; });
  return !token.stop_requested();
}

}  // namespace naut
