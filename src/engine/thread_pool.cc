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

// The job word: generation (16 bits) | number of chunks (24) | next unclaimed chunk (24).
// The chunk count travels in the same word as the claim counter, so a worker still looking at
// an old job can never claim a chunk with the new job's count (a stale count let a late
// worker run one chunk too many and push done_ past n_chunks, which hung the caller).
namespace {
constexpr int kCountBits = 24;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr int64_t kMaxChunks = static_cast<int64_t>(kCountMask);
inline uint32_t GenOf(uint64_t s) { return static_cast<uint32_t>(s >> (2 * kCountBits)); }
inline int64_t CountOf(uint64_t s) { return static_cast<int64_t>((s >> kCountBits) & kCountMask); }
inline int64_t NextOf(uint64_t s) { return static_cast<int64_t>(s & kCountMask); }
}  // namespace

void ThreadPool::Help(uint32_t gen) {
  uint64_t s = state_.load(std::memory_order_acquire);
  while (true) {
    if (GenOf(s) != gen) return;
    const int64_t idx = NextOf(s);
    if (idx >= CountOf(s)) return;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
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
  if (n_chunks > kMaxChunks) {
    for (int64_t base = 0; base < n_chunks; base += kMaxChunks) {
      ParallelFor(std::min(kMaxChunks, n_chunks - base), [&](int64_t i) { fn(base + i); });
    }
    return;
  }
  const uint32_t gen = (GenOf(state_.load(std::memory_order_relaxed)) + 1) & 0xffffu;
  fn_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  state_.store((static_cast<uint64_t>(gen) << (2 * kCountBits)) |
                   (static_cast<uint64_t>(n_chunks) << kCountBits),
               std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  Help(gen);
  // Only chunks that a running worker has claimed are left; wait for them.
  int spins = 0;
  while (done_.load(std::memory_order_acquire) < n_chunks) {
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
    Help(GenOf(state_.load(std::memory_order_acquire)));
  }
}

}  // namespace naut::engine
