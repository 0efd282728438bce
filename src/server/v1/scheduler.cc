#include "server/v1/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace naut::server {

namespace {

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

size_t CommonPrefix(const std::vector<engine::TokenId>& a, const std::vector<engine::TokenId>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                             a.begin());
}

}  // namespace

bool Job::Wait(std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  const auto until = Clock::now() + timeout;
  while (!done_) {
    if (cv_.wait_until(lock, until) == std::cv_status::timeout) return done_;
  }
  return true;
}

void Job::Finish() {
  MutexLock lock(mu_);
  done_ = true;
  cv_.notify_all();
}

Scheduler::Scheduler(const engine::Model& model, const SchedulerOptions& options)
    : model_(model), options_(options) {}

Result<std::unique_ptr<Scheduler>> Scheduler::Start(const engine::Model& model,
                                                    const SchedulerOptions& options) {
  if (options.slots < 1 || options.slots > 64) {
    return InvalidArgument("model server: parallel must be 1..64, got " +
                           std::to_string(options.slots));
  }
  if (options.queue_size < 0) return InvalidArgument("model server: queue_size must be >= 0");
  if (options.batch_size < 1) return InvalidArgument("model server: batch_size must be >= 1");
  std::unique_ptr<Scheduler> s(new Scheduler(model, options));
  engine::ContextOptions co = options.context;
  co.n_seq = options.slots;
  co.n_batch = options.batch_size;
  NAUT_ASSIGN_OR_RETURN(s->ctx_, engine::Context::Create(model, co));
  s->n_ctx_ = s->ctx_->n_ctx();
  s->slot_count_ = options.slots;
  {
    MutexLock lock(s->mu_);
    s->slots_.resize(static_cast<size_t>(options.slots));
    s->cached_.assign(static_cast<size_t>(options.slots), 0);
    s->stats_.n_ctx = s->n_ctx_;
  }
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

Scheduler::~Scheduler() { Stop(); }

Status Scheduler::Submit(std::shared_ptr<Job> job) {
  if (job->prompt.empty()) return InvalidArgument("the prompt is empty");
  if (static_cast<int>(job->prompt.size()) >= n_ctx_) {
    return InvalidArgument("the prompt has " + std::to_string(job->prompt.size()) +
                           " tokens; a slot's context holds " + std::to_string(n_ctx_));
  }
  MutexLock lock(mu_);
  if (stopping_) return Unavailable("the model server is stopping");
  int idle = 0;
  for (const Slot& s : slots_) idle += s.job ? 0 : 1;
  if (static_cast<int>(queue_.size()) >= idle + options_.queue_size) {
    ++stats_.requests_rejected;
    return ResourceExhausted("every slot is busy and " + std::to_string(queue_.size() - idle) +
                             " requests are waiting (queue_size " +
                             std::to_string(options_.queue_size) + ")");
  }
  job->status = Status::Ok();
  queue_.push_back(std::move(job));
  ++stats_.requests_total;
  cv_.notify_all();
  return Status::Ok();
}

void Scheduler::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::Snapshot() {
  MutexLock lock(mu_);
  SchedulerStats s = stats_;
  s.slots.clear();
  s.requests_processing = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& sl = slots_[i];
    SchedulerStats::Slot out;
    out.id = static_cast<int>(i);
    out.processing = sl.job != nullptr;
    out.n_cached = cached_[i];
    if (sl.job) {
      ++s.requests_processing;
      out.n_prompt = static_cast<int>(sl.job->prompt.size());
      out.n_decoded = sl.gen ? static_cast<int>(sl.gen->result().tokens.size()) : 0;
    }
    s.slots.push_back(out);
  }
  s.requests_deferred = static_cast<int>(queue_.size());
  return s;
}

void Scheduler::Assign(int index, std::shared_ptr<Job> job) {
  Slot& slot = slots_[static_cast<size_t>(index)];
  const std::vector<engine::TokenId>& cached = ctx_->cached_tokens(index);
  size_t common = CommonPrefix(cached, job->prompt);
  // The last prompt token is evaluated again for its logits.
  if (common == job->prompt.size()) --common;
  ctx_->TruncateSeq(index, static_cast<int>(common));
  slot.prompt_at = common;
  slot.next = -1;
  slot.last_used = ++clock_;
  slot.t_start = Clock::now();
  job->slot = index;
  job->result = engine::GenerateResult();
  job->result.n_prompt = static_cast<int>(job->prompt.size());
  job->result.n_reused = static_cast<int>(common);
  engine::GenerateOptions o = job->options;
  o.cancelled = nullptr;
  slot.gen = std::make_unique<engine::Generation>(model_, job->prompt, std::move(o));
  slot.job = std::move(job);
}

void Scheduler::Admit() {
  // Cancelled jobs leave the queue without a slot.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->cancelled()) {
      (*it)->status = Cancelled("cancelled while queued");
      (*it)->Finish();
      ++stats_.requests_cancelled;
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  while (!queue_.empty()) {
    std::shared_ptr<Job>& job = queue_.front();
    int best = -1, lru = -1;
    size_t best_common = 0;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& s = slots_[static_cast<size_t>(i)];
      if (s.job) continue;
      if (lru < 0 || s.last_used < slots_[static_cast<size_t>(lru)].last_used) lru = i;
      const size_t common = CommonPrefix(ctx_->cached_tokens(i), job->prompt);
      if (best < 0 || common > best_common) {
        best = i;
        best_common = common;
      }
    }
    if (best < 0) return;  // every slot busy
    // A slot that shares nothing keeps its cache for a later prompt that does: the least
    // recently used idle slot is given up instead.
    const int chosen = best_common > 0 ? best : lru;
    std::shared_ptr<Job> taken = std::move(queue_.front());
    queue_.pop_front();
    Assign(chosen, std::move(taken));
  }
}

void Scheduler::Complete(int index, Status status) {
  Slot& slot = slots_[static_cast<size_t>(index)];
  std::shared_ptr<Job> job = std::move(slot.job);
  const auto now = Clock::now();
  if (slot.gen) {
    const int n_prompt = job->result.n_prompt, n_reused = job->result.n_reused;
    job->result = std::move(slot.gen->result());
    job->result.n_prompt = n_prompt;
    job->result.n_reused = n_reused;
  }
  const bool decoding = slot.next >= 0 || slot.prompt_at >= job->prompt.size();
  job->prompt_ms = MsBetween(slot.t_start, decoding ? slot.t_prompt_done : now);
  job->predicted_ms = decoding ? MsBetween(slot.t_prompt_done, now) : 0;
  job->result.prompt_seconds = job->prompt_ms / 1000;
  job->result.gen_seconds = job->predicted_ms / 1000;
  stats_.tokens_predicted_total += static_cast<int64_t>(job->result.tokens.size());
  stats_.tokens_predicted_seconds_total += job->predicted_ms / 1000;
  if (status.code() == Code::kCancelled) ++stats_.requests_cancelled;
  job->status = std::move(status);
  slot.gen.reset();
  slot.next = -1;
  job->Finish();
}

bool Scheduler::Step() {
  struct Entry {
    int slot;
    size_t first;  // into tokens
    int n;
    bool prompt_end;  // the entry ends the slot's prompt
    bool logits;
  };
  // Forward passes of this step: the next token of every decoding slot together, then each
  // slot's prompt chunk on its own. Keeping them apart makes a slot's numbers independent of
  // what else runs: the engine's quantized matrix kernels switch to a batch form at 12 tokens,
  // which rounds differently in the last bits, so a decode token riding in a prompt's pass
  // could come out (at temperature 0) other than it does alone. A prompt's chunks are cut at
  // batch_size whatever else runs, for the same reason.
  std::vector<engine::TokenId> tokens;
  std::vector<std::vector<Entry>> passes;
  {
    MutexLock lock(mu_);
    Admit();
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      Slot& s = slots_[static_cast<size_t>(i)];
      if (s.job && s.job->cancelled()) Complete(i, Cancelled("cancelled by the client"));
      if (s.job && !s.gen->status().ok()) Complete(i, s.gen->status());
    }
    std::vector<Entry> decode;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      Slot& s = slots_[static_cast<size_t>(i)];
      if (!s.job || s.next < 0) continue;
      decode.push_back({i, tokens.size(), 1, false, true});
      tokens.push_back(s.next);
    }
    if (!decode.empty()) passes.push_back(std::move(decode));
    // Prompt chunks while this step's prompt budget lasts (at least one chunk).
    int budget = options_.batch_size;
    for (int i = 0; i < static_cast<int>(slots_.size()) && budget > 0; ++i) {
      Slot& s = slots_[static_cast<size_t>(i)];
      if (!s.job || s.next >= 0) continue;
      const size_t left = s.job->prompt.size() - s.prompt_at;
      const int n = static_cast<int>(std::min<size_t>(left, options_.batch_size));
      const bool end = static_cast<size_t>(n) == left;
      passes.push_back({{i, tokens.size(), n, end, end}});
      tokens.insert(tokens.end(), s.job->prompt.begin() + static_cast<std::ptrdiff_t>(s.prompt_at),
                    s.job->prompt.begin() + static_cast<std::ptrdiff_t>(s.prompt_at + n));
      budget -= n;
    }
    if (passes.empty()) return false;
  }
  for (const std::vector<Entry>& entries : passes) {
    std::vector<engine::SeqTokens> batch;
    batch.reserve(entries.size());
    for (const Entry& e : entries) {
      batch.push_back(
          {.seq = e.slot, .tokens = tokens.data() + e.first, .n = e.n, .logits = e.logits});
    }
    const Status st = ctx_->EvalSeqs(batch);
    MutexLock lock(mu_);
    ++stats_.n_decode_total;
    stats_.n_busy_slots_total += static_cast<int64_t>(entries.size());
    const auto now = Clock::now();
    for (size_t k = 0; k < entries.size(); ++k) {
      const Entry& e = entries[k];
      Slot& s = slots_[static_cast<size_t>(e.slot)];
      cached_[static_cast<size_t>(e.slot)] = static_cast<int>(ctx_->cached_tokens(e.slot).size());
      if (!s.job) continue;
      if (!st.ok()) {
        Complete(e.slot, st);
        continue;
      }
      if (s.next < 0) {  // a prompt chunk
        s.prompt_at += static_cast<size_t>(e.n);
        stats_.prompt_tokens_total += e.n;
        if (!e.prompt_end) continue;
        s.t_prompt_done = now;
        stats_.prompt_seconds_total += MsBetween(s.t_start, now) / 1000;
      }
      auto next = s.gen->Next(ctx_->logits(static_cast<int>(k)),
                              static_cast<int>(ctx_->cached_tokens(e.slot).size()) >= n_ctx_);
      s.job->grammar_active.store(s.gen->result().grammar_active);
      if (!next.ok()) {
        Complete(e.slot, next.error());
      } else if (!*next) {
        // A stream whose client went away ends as "cancelled" (on_text said stop).
        Complete(e.slot, s.gen->result().stop_reason == "cancelled"
                             ? Cancelled("cancelled by the client")
                             : Status::Ok());
      } else {
        s.next = **next;
      }
    }
  }
  return true;
}

void Scheduler::Run() {
  while (true) {
    {
      MutexLock lock(mu_);
      if (stopping_) {
        for (auto& job : queue_) {
          job->status = Unavailable("the model server stopped");
          job->Finish();
        }
        queue_.clear();
        for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
          if (slots_[static_cast<size_t>(i)].job) {
            Complete(i, Unavailable("the model server stopped"));
          }
        }
        return;
      }
    }
    if (Step()) continue;
    MutexLock lock(mu_);
    while (!stopping_ && queue_.empty()) cv_.wait(lock);
  }
}

}  // namespace naut::server
