#include "llm/endpoint_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <list>
#include <unordered_map>

#include "core/cancel.h"
#include "core/hash.h"

namespace naut::llm {

namespace {

using Clock = std::chrono::steady_clock;

// FNV-1a, chained: cheap, stable across runs, and good enough to tell prompts apart. A 0xff
// byte ends each field, so ("ab","c") differs from ("a","bc").
uint64_t Mix(uint64_t h, std::string_view s) { return Fnv1a64("\xff", Fnv1a64(s, h)); }

}  // namespace

std::vector<uint64_t> PrefixFingerprints(const ChatRequest& request) {
  uint64_t h = kFnv1aOffset;
  for (const auto& t : request.tools) {
    h = Mix(h, t.name);
    h = Mix(h, t.description);
    h = Mix(h, DumpJson(t.parameters));
  }
  std::vector<uint64_t> out;
  out.reserve(request.messages.size());
  for (const auto& m : request.messages) {
    h = Mix(h, RoleName(m.role));
    h = Mix(h, m.content);
    for (const auto& c : m.tool_calls) {
      h = Mix(h, c.name);
      h = Mix(h, c.arguments_text.empty() ? DumpJson(c.arguments) : c.arguments_text);
    }
    h = Mix(h, m.tool_call_id);
    out.push_back(h);
  }
  return out;
}

struct EndpointPool::Endpoint {
  int slots = 4;
  bool slots_known = false;
  int in_flight = 0;
  int server_busy = -1;
  bool slots_endpoint = true;  // false once /slots said it is not there
  std::string state = "unknown";
  std::string model;
  int64_t context_size = 0;
  int consecutive_failures = 0;
  Clock::time_point open_until{};
  // With health probes running, an endpoint that failed a request stays out until a probe
  // started after the failure finds it healthy; a user's request never tests it again.
  bool awaiting_probe = false;
  Clock::time_point failed_at{};
  int64_t requests = 0, failures = 0;
  double latency_ms = 0;      // moving average over answered requests, 0 until one is
  int64_t conversations = 0;  // requests routed here without an affinity match
  std::string last_error;
  // The requests under way here, stopped when probes find the server not answering.
  std::list<std::stop_source*> attempts;
  int failed_probes = 0;  // consecutive
};

// LRU map from prefix fingerprint to the endpoint that last served it.
struct EndpointPool::AffinityEntry {
  std::list<uint64_t> order;  // most recent first
  std::unordered_map<uint64_t, std::pair<size_t, std::list<uint64_t>::iterator>> map;
};

EndpointPool::EndpointPool(PoolOptions options)
    : options_(std::move(options)), affinity_(new AffinityEntry) {
  if (!options_.journal.empty()) journal_ = std::make_unique<PoolJournal>(options_.journal);
  for (auto opts : options_.endpoints) {
    opts.max_retries = 0;  // the pool retries, across endpoints
    backends_.push_back(std::make_unique<OpenAiBackend>(opts));
    Endpoint e;
    if (options_.slots_per_endpoint > 0) {
      e.slots = options_.slots_per_endpoint;
      e.slots_known = true;
    }
    endpoints_.push_back(std::move(e));
  }
  if (options_.health_interval.count() > 0 && !backends_.empty()) {
    health_ = std::jthread([this](std::stop_token stop) { HealthLoop(stop); });
  }
}

EndpointPool::~EndpointPool() {
  if (health_.joinable()) {
    health_.request_stop();
    health_.join();
  }
}

std::string EndpointPool::Describe() const {
  std::string s = "pool of " + std::to_string(backends_.size()) + " (";
  for (size_t i = 0; i < backends_.size(); ++i) s += (i ? ", " : "") + backends_[i]->base_url();
  return s + ")";
}

bool EndpointPool::Available(const Endpoint& e, Clock::time_point now) const {
  return e.open_until <= now && !e.awaiting_probe;
}

int EndpointPool::Load(const Endpoint& e) const { return std::max(e.in_flight, e.server_busy); }

LlmResult<size_t> EndpointPool::Acquire(const std::vector<uint64_t>& hashes,
                                        const std::vector<bool>& excluded, std::stop_token cancel) {
  MutexLock lock(mu_);
  auto deadline = Clock::now() + options_.queue_timeout;
  // How long a request waits for the next probes when every endpoint is out until one finds
  // it back: two rounds, and the slowest probe (health, props and slots timing out).
  auto probe_deadline = std::min(
      deadline, Clock::now() + 2 * options_.health_interval + std::chrono::milliseconds(7'000));
  while (true) {
    auto now = Clock::now();
    std::vector<size_t> up;
    bool any_up = false;
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      if (excluded[i] || !Available(endpoints_[i], now)) continue;
      any_up = true;
      if (endpoints_[i].in_flight < endpoints_[i].slots) up.push_back(i);
    }
    if (!any_up) {
      bool awaiting_probe = false;
      for (size_t i = 0; i < endpoints_.size(); ++i)
        awaiting_probe = awaiting_probe || (!excluded[i] && endpoints_[i].awaiting_probe);
      if (awaiting_probe && now < probe_deadline && !cancel.stop_requested()) {
        // A health check that timed out on a loaded machine takes an endpoint out as surely
        // as a dead one: the next probes tell them apart, so wait for them before failing.
        slot_freed_.wait_until(lock, cancel,
                               std::min(probe_deadline, now + std::chrono::milliseconds(250)),
                               [] { return false; });
        continue;
      }
      std::string why;
      for (size_t i = 0; i < endpoints_.size(); ++i) {
        const Endpoint& e = endpoints_[i];
        why += (why.empty() ? "" : "; ") + backends_[i]->base_url() + ": " +
               (e.last_error.empty() ? e.state : e.last_error);
      }
      return LlmError{LlmError::Kind::kUnavailable, "no endpoint of " +
                                                        std::to_string(endpoints_.size()) +
                                                        " can take the request (" + why + ")"};
    }
    if (!up.empty()) {
      std::optional<size_t> pick;
      int min_load = Load(endpoints_[up[0]]);
      for (size_t i : up) min_load = std::min(min_load, Load(endpoints_[i]));
      if (options_.policy == RoutingPolicy::kRoundRobin) {
        for (size_t k = 0; k < endpoints_.size() && !pick; ++k) {
          size_t i = (round_robin_ + k) % endpoints_.size();
          if (std::find(up.begin(), up.end(), i) != up.end()) pick = i;
        }
        round_robin_ = (*pick + 1) % endpoints_.size();
      }
      if (!pick && options_.policy == RoutingPolicy::kPrefixAffinity) {
        for (size_t k = hashes.size();
             k >= static_cast<size_t>(std::max(1, options_.affinity_min_messages)) && !pick; --k) {
          auto it = affinity_->map.find(hashes[k - 1]);
          if (it == affinity_->map.end()) continue;
          size_t i = it->second.first;
          if (std::find(up.begin(), up.end(), i) != up.end() &&
              Load(endpoints_[i]) <= min_load + options_.affinity_max_extra_load) {
            pick = i;
          }
          break;  // the longest known prefix decides; a shorter one is on the same endpoint or
                  // stale
        }
      }
      if (!pick) {
        // Least expected wait: (load + 1) x recent latency. Busy count alone would send work
        // to a slow machine whenever it happens to be idle; an endpoint not measured yet is
        // taken to be as fast as the fastest, so that it gets tried.
        double fastest = 0;
        for (size_t i : up) {
          double l = endpoints_[i].latency_ms;
          if (l > 0 && (fastest == 0 || l < fastest)) fastest = l;
        }
        // Latencies within 2x of the fastest count as equal: timing noise must not decide,
        // so that similar machines share new conversations evenly.
        auto score = [&](size_t i) REQUIRES(mu_) {
          double l = endpoints_[i].latency_ms > 0 ? endpoints_[i].latency_ms
                                                  : (fastest > 0 ? fastest : 1.0);
          if (fastest > 0 && l < 2 * fastest) l = fastest;
          return (Load(endpoints_[i]) + 1) * l;
        };
        for (size_t i : up) {
          if (!pick || score(i) < score(*pick) ||
              (score(i) == score(*pick) &&
               endpoints_[i].conversations < endpoints_[*pick].conversations)) {
            pick = i;
          }
        }
        endpoints_[*pick].conversations++;
      }
      endpoints_[*pick].in_flight++;
      return *pick;
    }
    if (cancel.stop_requested())
      return LlmError{LlmError::Kind::kCancelled, "cancelled while waiting for a free slot"};
    if (now >= deadline) {
      return LlmError{
          LlmError::Kind::kRateLimited,
          "every slot of " + std::to_string(endpoints_.size()) + " endpoint(s) stayed busy for " +
              std::to_string(options_.queue_timeout.count() / 1000.0).substr(0, 5) + " s"};
    }
    // Woken by a released slot, a cancel, or the deadline; breakers expire on their own, so
    // the wait is capped to notice them.
    auto until = std::min(deadline, now + std::chrono::milliseconds(250));
    slot_freed_.wait_until(lock, cancel, until, [] { return false; });
  }
}

void EndpointPool::Release(size_t index, const ChatResult& result,
                           const std::vector<uint64_t>& hashes) {
  {
    MutexLock lock(mu_);
    Endpoint& e = endpoints_[index];
    e.in_flight--;
    if (result.ok()) {
      e.requests++;
      double ms = result->timings.total_ms;
      e.latency_ms = e.latency_ms == 0 ? ms : 0.7 * e.latency_ms + 0.3 * ms;
      e.consecutive_failures = 0;
      e.open_until = {};
      e.state = "up";
      e.last_error.clear();
      for (uint64_t h : hashes) {
        auto it = affinity_->map.find(h);
        if (it != affinity_->map.end()) {
          affinity_->order.erase(it->second.second);
          affinity_->map.erase(it);
        }
        affinity_->order.push_front(h);
        affinity_->map[h] = {index, affinity_->order.begin()};
      }
      while (affinity_->map.size() > options_.affinity_capacity) {
        affinity_->map.erase(affinity_->order.back());
        affinity_->order.pop_back();
      }
    } else {
      const LlmError& err = result.error();
      e.last_error = err.ToString();
      if (err.kind != LlmError::Kind::kCancelled) e.failures++;
      bool endpoint_fault =
          err.kind == LlmError::Kind::kNetwork || err.kind == LlmError::Kind::kServer ||
          err.kind == LlmError::Kind::kTimeout || err.kind == LlmError::Kind::kUnavailable;
      if (endpoint_fault) {
        e.consecutive_failures++;
        auto backoff = options_.breaker_initial * (1 << std::min(e.consecutive_failures - 1, 10));
        e.open_until =
            Clock::now() + std::min<std::chrono::milliseconds>(backoff, options_.breaker_max);
        e.state = err.kind == LlmError::Kind::kNetwork ? "down" : "circuit open";
        e.awaiting_probe = options_.health_interval.count() > 0;
        e.failed_at = Clock::now();
      }
    }
  }
  slot_freed_.notify_all();
}

ChatResult EndpointPool::Chat(const ChatRequest& request, const CallOptions& options) {
  if (backends_.empty())
    return LlmError{LlmError::Kind::kUnavailable, "the endpoint pool is empty"};
  auto hashes = PrefixFingerprints(request);
  std::vector<bool> excluded(backends_.size(), false);
  int max_attempts =
      options_.max_attempts > 0 ? options_.max_attempts : static_cast<int>(2 * backends_.size());
  std::optional<LlmError> last;
  bool delivered_any = false;
  std::string failed_on;  // the endpoints that failed this request, for the journal
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    if (std::all_of(excluded.begin(), excluded.end(), [](bool b) { return b; })) {
      // Everyone failed this request once: pause briefly, then give them another chance.
      if (!SleepFor(options_.breaker_initial, options.cancel)) break;
      excluded.assign(excluded.size(), false);
    }
    auto picked = Acquire(hashes, excluded, options.cancel);
    if (!picked) {
      if (last && picked.error().kind == LlmError::Kind::kUnavailable) return *last;
      return picked.error();
    }
    size_t i = *picked;
    const bool restarted = delivered_any;  // the caller was shown part of a cut answer
    if (restarted && options.on_delta) options.on_delta(StreamDelta{.restart = true});
    bool delivered = false;
    // The attempt stops when the caller cancels, or when a probe gives up on the endpoint.
    std::stop_source attempt_stop;
    std::stop_callback relay(options.cancel, [&attempt_stop] { attempt_stop.request_stop(); });
    CallOptions attempt_options = options;
    attempt_options.cancel = attempt_stop.get_token();
    std::list<std::stop_source*>::iterator registered;
    {
      MutexLock lock(mu_);
      registered = endpoints_[i].attempts.insert(endpoints_[i].attempts.end(), &attempt_stop);
    }
    ChatResult r = backends_[i]->ChatOnce(request, attempt_options, &delivered);
    {
      MutexLock lock(mu_);
      endpoints_[i].attempts.erase(registered);
    }
    if (!r.ok() && r.error().kind == LlmError::Kind::kCancelled &&
        !options.cancel.stop_requested()) {
      r = LlmError{LlmError::Kind::kTimeout,
                   backends_[i]->base_url() +
                       " stopped answering while it answered (its health probe failed)"};
    }
    delivered_any = delivered_any || delivered;
    Release(i, r, hashes);
    if (r.ok()) {
      if (journal_ && !failed_on.empty()) {
        journal_->Append(
            {.endpoint = backends_[i]->base_url(),
             .event = "answered",
             .detail = "after a failure on " + failed_on +
                       (restarted ? "; the cut answer was dropped and this one given whole" : "")});
      }
      return r;
    }
    if (!r.error().transient()) return r;
    spdlog::warn("llm pool: {}; trying another endpoint", r.error().ToString());
    if (journal_ && r.error().kind != LlmError::Kind::kCancelled) {
      journal_->Append({.endpoint = backends_[i]->base_url(),
                        .event = "failed",
                        .detail = r.error().ToString() + (delivered ? " (cut mid-answer)" : "")});
    }
    failed_on += (failed_on.empty() ? "" : ", ") + backends_[i]->base_url();
    excluded[i] = true;
    last = r.error();
  }
  if (options.cancel.stop_requested()) return LlmError{LlmError::Kind::kCancelled, "cancelled"};
  LlmError gave_up = last.value_or(LlmError{LlmError::Kind::kUnavailable, "no attempt was made"});
  if (journal_) journal_->Append({.event = "gave up", .detail = gave_up.ToString()});
  return gave_up;
}

void EndpointPool::Probe(size_t index) {
  OpenAiBackend& b = *backends_[index];
  auto started = Clock::now();
  auto health = b.Health(std::chrono::seconds(2));
  bool need_info;
  bool ask_slots;
  {
    MutexLock lock(mu_);
    const Endpoint& e = endpoints_[index];
    need_info = e.model.empty() || !e.slots_known;
    ask_slots = e.slots_endpoint;
  }
  std::optional<ServerInfo> info;
  if (health.ok() && need_info) {
    auto i = b.Info(std::chrono::seconds(3));
    if (i.ok()) info = *i;
  }
  std::optional<SlotLoad> load;
  bool no_slots = false;
  if (health.ok() && ask_slots) {
    auto s = b.Slots(std::chrono::seconds(2));
    if (s.ok()) {
      load = *s;
    } else {
      no_slots = true;
    }
  }
  std::optional<PoolEvent> event;
  {
    MutexLock lock(mu_);
    Endpoint& e = endpoints_[index];
    const std::string before = e.state;
    if (health.ok()) {
      e.failed_probes = 0;
      bool was_out = e.open_until > Clock::now() || e.awaiting_probe;
      if (was_out && started >= e.failed_at) {
        spdlog::info("llm pool: {} is healthy again", b.base_url());
        e.state = "up";
        e.open_until = {};
        e.consecutive_failures = 0;
        e.awaiting_probe = false;
      } else if (!was_out) {
        e.state = "up";
      }
    } else {
      bool loading = health.error().kind == LlmError::Kind::kUnavailable;
      e.state = loading ? "loading" : "down";
      e.last_error = health.error().ToString();
      e.open_until = std::max(e.open_until, Clock::now() + options_.breaker_initial);
      if (options_.health_interval.count() > 0) {
        // Out until a later probe finds it back: between probes, a user request would hang
        // on a server that does not answer.
        e.awaiting_probe = true;
        e.failed_at = started;
      }
      // Two probes in a row, so that one slow answer to /health on a loaded machine does not
      // cost the requests under way their progress.
      if (!loading && ++e.failed_probes >= 2) {
        for (std::stop_source* attempt : e.attempts) attempt->request_stop();
      }
    }
    if (info) {
      e.model = info->model;
      e.context_size = info->context_size;
      if (!e.slots_known && info->total_slots > 0) {
        e.slots = info->total_slots;
        e.slots_known = true;
      }
    }
    if (load) e.server_busy = load->busy;
    if (no_slots) {
      e.slots_endpoint = false;
      e.server_busy = -1;
    }
    // Changes only: the first look at a healthy endpoint is no news, and an endpoint that a
    // request found failing was journaled then, so its probe failing too is none either.
    if (e.state != before) {
      if (e.state == "up" && before != "unknown") {
        event = PoolEvent{.endpoint = b.base_url(), .event = "up", .detail = "healthy again"};
      } else if ((e.state == "down" || e.state == "loading") &&
                 (before == "up" || before == "unknown")) {
        event = PoolEvent{.endpoint = b.base_url(),
                          .event = "down",
                          .detail = e.state == "loading" ? "loading the model" : e.last_error};
      }
    }
  }
  if (event && journal_) journal_->Append(std::move(*event));
  slot_freed_.notify_all();
}

void EndpointPool::HealthLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    for (size_t i = 0; i < backends_.size() && !stop.stop_requested(); ++i) Probe(i);
    if (!SleepFor(options_.health_interval, stop)) break;
  }
}

std::vector<EndpointStatus> EndpointPool::Status(bool probe) {
  if (probe) {
    for (size_t i = 0; i < backends_.size(); ++i) Probe(i);
  }
  MutexLock lock(mu_);
  std::vector<EndpointStatus> out;
  auto now = Clock::now();
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Endpoint& e = endpoints_[i];
    EndpointStatus s;
    s.url = backends_[i]->base_url();
    s.state =
        (e.open_until > now || e.awaiting_probe) && e.state == "up" ? "circuit open" : e.state;
    s.model = e.model;
    s.context_size = e.context_size;
    s.slots = e.slots;
    s.in_flight = e.in_flight;
    s.server_busy = e.server_busy;
    s.requests = e.requests;
    s.failures = e.failures;
    s.last_error = e.last_error;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace naut::llm
