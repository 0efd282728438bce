// Benchmarks of the llm module against scripted servers started as child processes:
//  (a) the client's overhead per request (p50, p99), plain and streamed, beside a bare
//      cpp-httplib POST of the same body as the floor;
//  (b) on a synthetic agent workload over three scripted servers that simulate llama-server's
//      prompt cache, the share of prompt tokens served from cache with prefix affinity beside
//      least-loaded and round-robin routing, in the same run.
// Usage: llm_bench [requests=2000]

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "llm/endpoint_pool.h"
#include "llm/openai_backend.h"
#include "llm/openai_wire.h"
#include "scripted_llm_process.h"

using namespace naut;
using namespace naut::llm;
using Clock = std::chrono::steady_clock;

namespace {

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::unique_ptr<testing::ScriptedLlmProcess> Start(const Json& script) {
  auto s = testing::ScriptedLlmProcess::Start(script);
  if (!s) {
    std::fprintf(stderr, "cannot start naut-scripted-llm: %s\n", s.error().ToString().c_str());
    std::exit(1);
  }
  return std::move(*s);
}

ChatRequest SmallRequest() {
  ChatRequest r;
  r.messages = {Message::System("You are a game-playing agent."), Message::User("Look around.")};
  return r;
}

void Overhead(int n) {
  auto server = Start(Json{{"default", {{"content", "You are in a dark cave. Exits: north, east."}, {"chunk_size", 8}}}});
  EndpointOptions o;
  o.base_url = server->url();
  o.max_retries = 0;
  OpenAiBackend client(o);
  ChatRequest req = SmallRequest();
  auto measure = [&](auto&& once) {
    for (int i = 0; i < 50; ++i) once();  // warm up: connections, allocator
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      once();
      ms.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    return ms;
  };
  std::string body = DumpJson(RequestToWire(req, "", false));
  std::string host = server->url().substr(7);
  httplib::Client raw(host.substr(0, host.find(':')), std::stoi(host.substr(host.find(':') + 1)));
  raw.set_keep_alive(true);
  raw.set_tcp_nodelay(true);
  auto floor = measure([&] {
    auto r = raw.Post("/v1/chat/completions", body, "application/json");
    if (!r || r->status != 200) std::exit(2);
  });
  auto plain = measure([&] {
    if (!client.Chat(req, {}).ok()) std::exit(3);
  });
  CallOptions stream;
  size_t deltas = 0;
  stream.on_delta = [&](const StreamDelta&) { ++deltas; };
  auto streamed = measure([&] {
    if (!client.Chat(req, stream).ok()) std::exit(4);
  });
  std::printf("(a) per-request latency against a local scripted server, %d requests each, microseconds\n", n);
  std::printf("| path | p50 | p99 |\n|---|---|---|\n");
  std::printf("| bare cpp-httplib POST (floor: server + loopback) | %.0f | %.0f |\n", Percentile(floor, 0.5), Percentile(floor, 0.99));
  std::printf("| OpenAiBackend::Chat, plain JSON | %.0f | %.0f |\n", Percentile(plain, 0.5), Percentile(plain, 0.99));
  std::printf("| OpenAiBackend::Chat, streamed (%zu deltas/answer) | %.0f | %.0f |\n",
              deltas / static_cast<size_t>(n + 50), Percentile(streamed, 0.5), Percentile(streamed, 0.99));
  std::printf("client overhead over the floor (p50): plain %.0f us, streamed %.0f us\n\n",
              Percentile(plain, 0.5) - Percentile(floor, 0.5), Percentile(streamed, 0.5) - Percentile(floor, 0.5));
}

struct CacheResult {
  int64_t prompt = 0, cached = 0;
  int failed = 0;
};

// 10 conversations of 8 turns on 5 worker threads (10 is not a multiple of 3, so round robin
// does not keep conversations in place by accident); every prompt repeats the conversation so
// far after a shared system prompt with tool descriptions, as an agent's prompts do.
CacheResult AgentWorkload(RoutingPolicy policy) {
  Json script{{"prefix_cache", true}, {"slots", 4}, {"default", {{"content", std::string(300, 'a')}, {"delay_ms", 5}}}};
  std::vector<std::unique_ptr<testing::ScriptedLlmProcess>> servers;
  PoolOptions po;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(Start(script));
    EndpointOptions e;
    e.base_url = servers.back()->url();
    po.endpoints.push_back(e);
  }
  po.policy = policy;
  po.health_interval = std::chrono::milliseconds(0);
  EndpointPool pool(po);
  std::string system = "You are an agent in a text game. Tools:\n";
  for (int t = 0; t < 20; ++t) system += "tool_" + std::to_string(t) + ": " + std::string(100, 'd') + "\n";
  std::mutex mu;
  CacheResult total;
  std::vector<std::thread> workers;
  for (int w = 0; w < 5; ++w) {
    workers.emplace_back([&, w] {
      std::vector<ChatRequest> convs(2);
      for (int c = 0; c < 2; ++c) {
        convs[c].messages = {Message::System(system),
                             Message::User("Task " + std::to_string(w * 2 + c) + ": " + std::string(200, 't'))};
      }
      for (int turn = 0; turn < 8; ++turn) {
        for (auto& conv : convs) {
          auto r = pool.Chat(conv, {});
          std::lock_guard lock(mu);
          if (!r.ok()) {
            total.failed++;
            continue;
          }
          total.prompt += r->usage.prompt_tokens;
          total.cached += r->usage.cached_tokens;
          conv.messages.push_back(Message::Assistant(r->content));
          conv.messages.push_back(Message::User("Tool result: " + std::string(150, 'r')));
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  return total;
}

void CacheShare() {
  std::printf("(b) prompt tokens served from cache, 10 conversations x 8 turns, 5 threads, 3 servers x 4 slots\n");
  std::printf("| routing | prompt tokens | cached | share | failed |\n|---|---|---|---|---|\n");
  for (auto [name, policy] : {std::pair{"prefix affinity", RoutingPolicy::kPrefixAffinity},
                              std::pair{"least loaded", RoutingPolicy::kLeastLoaded},
                              std::pair{"round robin", RoutingPolicy::kRoundRobin}}) {
    CacheResult r = AgentWorkload(policy);
    std::printf("| %s | %lld | %lld | %.1f%% | %d |\n", name, static_cast<long long>(r.prompt),
                static_cast<long long>(r.cached), r.prompt ? 100.0 * static_cast<double>(r.cached) / static_cast<double>(r.prompt) : 0.0,
                r.failed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  Overhead(n);
  CacheShare();
  return 0;
}
