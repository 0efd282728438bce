#pragma once
// The model server's slots and the one thread that runs the engine for all of them.
//
// A Job is one generation: its prompt tokens, how to sample (engine::GenerateOptions, whose
// on_text receives the text as it becomes final), and, once done, its result. Submit queues
// it; the scheduler thread gives it an idle slot (the one whose cached tokens share the longest
// prefix with its prompt, else the least recently used), evaluates the rest of its prompt in
// chunks of batch_size and then decodes it a token a step, every decoding slot's token in one
// forward pass (engine::Context::EvalSeqs over one sequence a slot). Prompt chunks run in
// passes of their own, never with other slots' tokens: the quantized kernels round differently
// from 12 tokens a pass on, so mixing would make a slot's greedy answer depend on what else
// runs. With fewer than 12 slots decoding, a request's tokens are the ones it gets alone on a
// fresh server. A job asks to stop through Cancel(), from any thread; the scheduler drops it
// before its next step and frees its slot.
//
// Thread-safety: Submit, Cancel, Snapshot and Stop may be called from any thread. A Job's
// on_text runs on the scheduler thread and must not block; the Job's result is written there
// and read by others only after Wait() returned.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "engine/generate.h"
#include "engine/model.h"

namespace naut::server {

struct Job {
  std::vector<engine::TokenId> prompt;
  engine::GenerateOptions options;  // `cancelled` is ignored: use Cancel()
  // Filled in by the scheduler thread; read after Wait().
  Status status;
  engine::GenerateResult result;
  int slot = -1;
  double prompt_ms = 0;  // evaluating the prompt's uncached part
  double predicted_ms = 0;

  void Cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  // Blocks until the job finished, failed or was dropped; false when `timeout` passed first.
  bool Wait(std::chrono::milliseconds timeout);
  bool done() {
    MutexLock lock(mu_);
    return done_;
  }
  // Set by the scheduler when the generation's grammar applies (streaming holds such text).
  std::atomic<bool> grammar_active{false};

 private:
  friend class Scheduler;
  void Finish();
  std::atomic<bool> cancelled_{false};
  Mutex mu_;
  std::condition_variable_any cv_;
  bool done_ GUARDED_BY(mu_) = false;
};

struct SchedulerOptions {
  int slots = 2;
  int queue_size = 16;
  int batch_size = 512;
  engine::ContextOptions context;  // n_seq is set to `slots`
};

// Figures for /metrics, /slots and /props.
struct SchedulerStats {
  struct Slot {
    int id = 0;
    bool processing = false;
    int n_cached = 0;  // tokens in its KV cache
    int n_decoded = 0;
    int n_prompt = 0;
  };
  std::vector<Slot> slots;
  int n_ctx = 0;
  int requests_processing = 0;
  int requests_deferred = 0;        // waiting in the queue
  int64_t prompt_tokens_total = 0;  // evaluated (not reused from a cache)
  double prompt_seconds_total = 0;
  int64_t tokens_predicted_total = 0;
  double tokens_predicted_seconds_total = 0;
  int64_t n_decode_total = 0;      // forward passes
  int64_t n_busy_slots_total = 0;  // summed over forward passes
  int64_t requests_total = 0;
  int64_t requests_rejected = 0;  // queue full
  int64_t requests_cancelled = 0;
};

class Scheduler {
 public:
  // The model must outlive the scheduler. Allocates the context (one KV cache a slot) and starts
  // the thread.
  static Result<std::unique_ptr<Scheduler>> Start(const engine::Model& model,
                                                  const SchedulerOptions& options);
  ~Scheduler();

  // Queues `job`. ResourceExhausted when every slot is busy and the queue is full;
  // Unavailable once stopped; InvalidArgument for a prompt the context cannot hold.
  Status Submit(std::shared_ptr<Job> job);
  SchedulerStats Snapshot();
  int n_ctx() const { return n_ctx_; }
  int slots() const { return slot_count_; }
  // Drops queued jobs and cancels running ones, then joins the thread.
  void Stop();

 private:
  struct Slot {
    std::shared_ptr<Job> job;
    std::unique_ptr<engine::Generation> gen;
    size_t prompt_at = 0;       // prompt tokens in the cache so far
    engine::TokenId next = -1;  // decoding: the token to evaluate next
    uint64_t last_used = 0;
    std::chrono::steady_clock::time_point t_start, t_prompt_done;
  };
  Scheduler(const engine::Model& model, const SchedulerOptions& options);
  void Run();
  // Gives queued jobs idle slots; drops cancelled ones.
  void Admit() REQUIRES(mu_);
  void Assign(int index, std::shared_ptr<Job> job) REQUIRES(mu_);
  // One forward pass over every active slot; false when there was nothing to do.
  bool Step();
  // Ends the job of slot `index` with `status` and frees the slot.
  void Complete(int index, Status status) REQUIRES(mu_);

  const engine::Model& model_;
  SchedulerOptions options_;
  std::unique_ptr<engine::Context> ctx_;  // scheduler thread only (and Start)
  int n_ctx_ = 0;
  int slot_count_ = 0;
  // slots_[i].job / gen are set by Admit under mu_ and used by the scheduler thread; Snapshot
  // reads them under mu_, which Step holds while it changes them.
  std::vector<Slot> slots_ GUARDED_BY(mu_);
  Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::shared_ptr<Job>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  uint64_t clock_ GUARDED_BY(mu_) = 0;
  SchedulerStats stats_ GUARDED_BY(mu_);
  std::vector<int> cached_ GUARDED_BY(mu_);  // per slot: tokens in its cache, for Snapshot
  std::thread thread_;
};

}  // namespace naut::server
