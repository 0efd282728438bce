#pragma once
// A pool of OpenAI-compatible endpoints behind one ChatModel: several llama-server (or
// Ollama, vLLM, ...) machines used as one.
//
// Routing. Each request's prompt is fingerprinted per message boundary (tools + messages[0..k]).
// With kPrefixAffinity, a request goes to the endpoint that last served its longest known
// prefix (at least `affinity_min_messages` messages, so a shared system prompt alone does not
// pin every conversation to one machine), because that server still holds the prefix in its
// KV cache; unless that endpoint is more than `affinity_max_extra_load` requests busier than
// the least loaded one. Otherwise, and with kLeastLoaded, the endpoint with the least expected
// wait wins: (load + 1) x its moving-average latency, where load = max(our in-flight
// requests, busy slots its /slots reports), so a slow machine gets less work even when idle.
// kRoundRobin is there for comparison.
//
// Failure. A network error, timeout, 5xx or 503 opens the endpoint's circuit breaker for a
// backoff that doubles per consecutive failure (`breaker_initial` .. `breaker_max`) and the
// request is retried on another endpoint; a stream that already delivered deltas is announced
// as restarted (StreamDelta::restart). Errors that another endpoint cannot fix (context length,
// bad request, authentication, cancelled) return at once. When every endpoint's slots are
// busy the request waits at most `queue_timeout`, then fails with kRateLimited.
//
// Health. A background thread (when `health_interval` > 0) polls GET /health, /props (slots,
// context size, model) and /slots (load). With it running, an endpoint that failed a request
// or a probe stays out of routing until a probe finds it healthy again (so a dead machine
// costs no user request a retry); without it, the breaker's backoff alone decides when it is
// tried again. A server that stops answering while it answers (stalled, swapping, SIGSTOPped)
// would hold its requests until their timeout: when two probes in a row find it not answering
// /health (which llama-server answers even while it generates), the requests under way there
// are abandoned and retried elsewhere (kTimeout, "stopped answering"). When every endpoint is out
// that way, a request waits for the next two rounds of probes before it fails (kUnavailable).
//
// Journal. With `journal` set, what happened is appended there (pool_journal.h): a request
// that failed on an endpoint (cut mid-answer or not), the endpoint that answered it after
// that, a request no endpoint could answer, and each endpoint the health probe finds going
// down or coming back. `neuronaut llm status` shows the last of these.
//
// Thread-safety: Chat and Status may be called from any number of threads at once.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "llm/openai_backend.h"
#include "llm/pool_journal.h"

namespace naut::llm {

enum class RoutingPolicy { kPrefixAffinity, kLeastLoaded, kRoundRobin };

struct PoolOptions {
  std::vector<EndpointOptions> endpoints;
  RoutingPolicy policy = RoutingPolicy::kPrefixAffinity;
  int slots_per_endpoint = 0;  // 0: what /props says (total_slots), 4 until known
  std::chrono::milliseconds queue_timeout{120'000};
  std::chrono::milliseconds health_interval{5'000};  // 0: no background thread
  std::chrono::milliseconds breaker_initial{1'000};
  std::chrono::milliseconds breaker_max{30'000};
  int max_attempts = 0;  // 0: two per endpoint
  int affinity_min_messages = 2;
  int affinity_max_extra_load = 2;
  size_t affinity_capacity = 8192;  // prefix fingerprints remembered
  std::filesystem::path journal;    // empty: none
};

struct EndpointStatus {
  std::string url;
  std::string state;  // "up", "down", "loading", "circuit open", "unknown"
  std::string model;
  int64_t context_size = 0;
  int slots = 0;
  int in_flight = 0;     // requests from this process
  int server_busy = -1;  // busy slots /slots reports, -1 when not exposed
  int64_t requests = 0;  // answered by this endpoint
  int64_t failures = 0;
  std::string last_error;
};

class EndpointPool : public ChatModel {
 public:
  explicit EndpointPool(PoolOptions options);
  ~EndpointPool() override;
  EndpointPool(const EndpointPool&) = delete;
  EndpointPool& operator=(const EndpointPool&) = delete;

  ChatResult Chat(const ChatRequest& request, const CallOptions& options) override;
  std::string Describe() const override;

  // Every endpoint's state; `probe` asks each server now (health, props, slots) first.
  std::vector<EndpointStatus> Status(bool probe);
  size_t size() const { return backends_.size(); }

 private:
  struct Endpoint;
  // Picks an endpoint for `hashes` and takes a slot on it, waiting while all are busy.
  LlmResult<size_t> Acquire(const std::vector<uint64_t>& hashes, const std::vector<bool>& excluded,
                            std::stop_token cancel) EXCLUDES(mu_);
  void Release(size_t index, const ChatResult& result, const std::vector<uint64_t>& hashes)
      EXCLUDES(mu_);
  void Probe(size_t index) EXCLUDES(mu_);
  void HealthLoop(std::stop_token stop);
  bool Available(const Endpoint& e, std::chrono::steady_clock::time_point now) const REQUIRES(mu_);
  int Load(const Endpoint& e) const REQUIRES(mu_);

  PoolOptions options_;
  // One per endpoint, fixed at construction (OpenAiBackend is thread-safe).
  std::vector<std::unique_ptr<OpenAiBackend>> backends_;

  mutable Mutex mu_;
  std::condition_variable_any slot_freed_;
  // What the pool knows of each endpoint, index for index with backends_.
  std::vector<Endpoint> endpoints_ GUARDED_BY(mu_);
  struct AffinityEntry;
  std::unique_ptr<AffinityEntry> affinity_ GUARDED_BY(mu_);
  size_t round_robin_ GUARDED_BY(mu_) = 0;
  std::unique_ptr<PoolJournal> journal_;  // null without options_.journal
  std::jthread health_;
};

// Fingerprints of a request's prompt at each message boundary: element k covers the tools and
// messages[0..k]. Equal prefixes give equal fingerprints.
std::vector<uint64_t> PrefixFingerprints(const ChatRequest& request);

}  // namespace naut::llm
