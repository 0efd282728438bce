#include "engine/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace naut::engine {

namespace {
inline void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
constexpr int kSpinIterations = 4000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_(std::max(1, n_threads)) {
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this] { Worker(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::Help(uint32_t gen) {
  uint64_t s = state_.load(std::memory_order_acquire);
  while (true) {
    if (static_cast<uint32_t>(s >> 32) != gen) return;
    const int64_t n = n_chunks_;
    const int64_t idx = static_cast<int64_t>(s & 0xffffffffu);
    if (idx >= n) return;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      (*fn_)(idx);
      done_.fetch_add(1, std::memory_order_acq_rel);
      s = state_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::ParallelFor(int64_t n_chunks, const std::function<void(int64_t)>& fn) {
  if (n_chunks <= 0) return;
  if (n_ == 1 || n_chunks == 1) {
    for (int64_t i = 0; i < n_chunks; ++i) fn(i);
    return;
  }
  const uint32_t gen = static_cast<uint32_t>(state_.load(std::memory_order_relaxed) >> 32) + 1;
  fn_ = &fn;
  n_chunks_ = n_chunks;
  done_.store(0, std::memory_order_relaxed);
  state_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  Help(gen);
  // Only chunks that a running worker has claimed are left; wait for them.
  int spins = 0;
  while (done_.load(std::memory_order_acquire) != n_chunks) {
    if (++spins < kSpinIterations) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::Worker() {
  // Workers start at generation 0, so a wake-up published before this thread ran is not missed.
  uint32_t seen = 0;
  while (true) {
    int spins = 0;
    uint32_t w;
    while ((w = wake_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        CpuRelax();
      } else {
        wake_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = w;
    if (stop_.load()) return;
    Help(static_cast<uint32_t>(state_.load(std::memory_order_acquire) >> 32));
  }
}

}  // namespace naut::engine
