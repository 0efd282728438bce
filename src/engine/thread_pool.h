#pragma once
// A fixed pool of compute threads for the forward pass. ParallelFor() splits a job into
// chunks that the caller and whichever workers are awake claim one at a time, so a worker
// that the OS has not scheduled yet (the machine is shared) never holds the caller up: the
// caller simply runs the chunks itself. Workers spin briefly between jobs, since a decode
// step issues hundreds of short ones, then sleep on a futex.
//
// One thread at a time may call ParallelFor(); the pool is owned by one Context.

#include <atomic>
#include <cstdint>
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
  // Calls fn(chunk) for every chunk in [0, n_chunks), spread over the pool; returns when all
  // chunks are done.
  void ParallelFor(int64_t n_chunks, const std::function<void(int64_t)>& fn);

 private:
  void Worker();
  // Claims and runs chunks of the job published as generation `gen`.
  void Help(uint32_t gen);

  int n_;
  std::vector<std::thread> threads_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  // The current job: generation, chunk count and next unclaimed chunk (see thread_pool.cc).
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<uint32_t> wake_{0};
  std::atomic<bool> stop_{false};
};

// Splits [0, n) into nth contiguous parts; returns part ith as [begin, end).
inline void SplitRange(int64_t n, int64_t ith, int64_t nth, int64_t* begin, int64_t* end) {
  int64_t per = (n + nth - 1) / nth;
  *begin = std::min<int64_t>(n, per * ith);
  *end = std::min<int64_t>(n, *begin + per);
}

}  // namespace naut::engine
