// Replays an agent's recorded request stream against a set of model servers, through
// NeuroNaut's own llm client, with several concurrent clients, and prints one JSON line of
// figures: requests completed and failed, completion tokens per second of wall-clock time,
// latency p50/p99, and the share of prompt tokens the servers answered from their prompt cache.
//
//   pool_replay --requests FILE.jsonl --clients N --per-client K
//               (--pool URL,URL,...  |  --endpoint URL)  [--max-tokens N] [--label TEXT]
//
// FILE.jsonl holds the bodies of POST /v1/chat/completions as the agent sent them, one a line,
// in order (bench/paddler/paddler.sh record writes it). Client c replays K consecutive requests
// starting c/N of the way into the stream (wrapping round), so the clients are at different
// points of the agent's conversation at once, as several agents are. Every request is decoded
// greedily (temperature 0) and capped at --max-tokens (default 256), so that both setups are
// asked for the same work.
//
// --pool URL,URL: NeuroNaut's EndpointPool over those servers (prefix affinity, as `[llm]
// endpoints` gives the agent). --endpoint URL: one OpenAI-compatible server (a Paddler
// balancer's compat endpoint), through the same client without a pool.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/json.h"
#include "llm/endpoint_pool.h"
#include "llm/openai_backend.h"
#include "server/v1/openai_request.h"

using namespace naut;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string requests, pool, endpoint, label;
  int clients = 4, per_client = 8, max_tokens = 256;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "pool_replay: %s\nusage: pool_replay --requests FILE.jsonl --clients N "
               "--per-client K (--pool URL,URL | --endpoint URL) [--max-tokens N] [--label T]\n",
               why.c_str());
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    std::string key = argv[i];
    if (i + 1 >= argc) Usage(key + " needs a value");
    std::string value = argv[i + 1];
    if (key == "--requests") {
      a.requests = value;
    } else if (key == "--pool") {
      a.pool = value;
    } else if (key == "--endpoint") {
      a.endpoint = value;
    } else if (key == "--label") {
      a.label = value;
    } else if (key == "--clients") {
      a.clients = std::stoi(value);
    } else if (key == "--per-client") {
      a.per_client = std::stoi(value);
    } else if (key == "--max-tokens") {
      a.max_tokens = std::stoi(value);
    } else {
      Usage("unknown option " + key);
    }
  }
  if (a.requests.empty()) Usage("--requests is required");
  if (a.pool.empty() == a.endpoint.empty()) Usage("give one of --pool and --endpoint");
  if (a.clients < 1 || a.per_client < 1 || a.max_tokens < 1) Usage("counts must be positive");
  return a;
}

std::vector<llm::ChatRequest> LoadRequests(const std::string& path, int max_tokens) {
  std::ifstream in(path);
  if (!in) Usage("cannot read " + path);
  std::vector<llm::ChatRequest> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto parsed = server::ParseChatCompletionBody(line);
    if (auto* e = std::get_if<server::ApiError>(&parsed)) {
      std::fprintf(stderr, "pool_replay: %s line %d is not a chat request: %s\n", path.c_str(),
                   line_no, e->message.c_str());
      std::exit(1);
    }
    llm::ChatRequest r = std::get<server::V1Request>(std::move(parsed)).request;
    r.sampling = {};
    r.sampling.temperature = 0.0;
    r.sampling.max_tokens = max_tokens;
    r.model.clear();
    out.push_back(std::move(r));
  }
  if (out.empty()) Usage(path + " holds no requests");
  return out;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  std::vector<llm::ChatRequest> requests = LoadRequests(args.requests, args.max_tokens);
  const auto timeout = std::chrono::milliseconds(600'000);
  std::unique_ptr<llm::ChatModel> model;
  if (!args.pool.empty()) {
    llm::PoolOptions po;
    for (const auto& url : Split(args.pool)) {
      po.endpoints.push_back({.base_url = url, .timeout = timeout});
    }
    model = std::make_unique<llm::EndpointPool>(std::move(po));
  } else {
    model = std::make_unique<llm::OpenAiBackend>(
        llm::EndpointOptions{.base_url = args.endpoint, .timeout = timeout, .max_retries = 0});
  }

  std::mutex mu;
  std::vector<double> latencies_ms;  // guarded by mu
  int64_t prompt = 0, cached = 0, completion = 0;
  int failed = 0;
  std::string first_error;
  std::vector<std::thread> clients;
  const auto started = Clock::now();
  for (int c = 0; c < args.clients; ++c) {
    clients.emplace_back([&, c] {
      const size_t n = requests.size();
      const size_t offset = n * static_cast<size_t>(c) / static_cast<size_t>(args.clients);
      for (int k = 0; k < args.per_client; ++k) {
        const llm::ChatRequest& r = requests[(offset + static_cast<size_t>(k)) % n];
        auto t0 = Clock::now();
        auto result = model->Chat(r, {});
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::lock_guard lock(mu);
        if (!result.ok()) {
          ++failed;
          if (first_error.empty()) first_error = result.error().ToString();
          continue;
        }
        latencies_ms.push_back(ms);
        prompt += result->usage.prompt_tokens;
        cached += result->usage.cached_tokens;
        completion += result->usage.completion_tokens;
      }
    });
  }
  for (auto& t : clients) t.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  const auto done = static_cast<int64_t>(latencies_ms.size());
  Json out = {
      {"label", args.label},
      {"clients", args.clients},
      {"requests", args.clients * args.per_client},
      {"completed", done},
      {"failed", failed},
      {"wall_s", wall_s},
      {"completion_tokens", completion},
      {"completion_tokens_per_s", wall_s > 0 ? static_cast<double>(completion) / wall_s : 0},
      {"mean_completion_tokens", done ? static_cast<double>(completion) / done : 0.0},
      {"p50_ms", Percentile(latencies_ms, 0.50)},
      {"p99_ms", Percentile(latencies_ms, 0.99)},
      {"prompt_tokens", prompt},
      {"cached_tokens", cached},
      {"cached_share", prompt ? static_cast<double>(cached) / static_cast<double>(prompt) : 0.0}};
  if (!first_error.empty()) out["first_error"] = first_error;
  std::printf("%s\n", DumpJson(out).c_str());
  return 0;
}
