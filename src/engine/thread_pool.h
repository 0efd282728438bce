#pragma once
// A fixed pool of compute threads for the forward pass. Run() hands the same job to every
// thread (the caller is thread 0) and returns when all have finished; workers spin briefly
// between jobs, because a decode step issues hundreds of short jobs, then sleep on a futex.
//
// One thread at a time may call Run(); the pool is owned by one Context.

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace naut::engine {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_; }
  // Calls fn(ith, nth) on each of the nth threads and waits for all of them.
  void Run(const std::function<void(int, int)>& fn);

 private:
  void Worker(int ith);

  int n_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// Splits [0, n) into nth contiguous parts; returns part ith as [begin, end).
inline void SplitRange(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
  int64_t per = (n + nth - 1) / nth;
  *begin = std::min<int64_t>(n, per * ith);
  *end = std::min<int64_t>(n, *begin + per);
}

}  // namespace naut::engine
