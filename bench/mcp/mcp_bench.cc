// tools/call latency over stdio, one call at a time: p50, p99 and calls per second of our
// client against our server (fixture echo) and against server-everything's echo (Node),
// same machine, same run.
//   naut_mcp_bench [--calls N] [--warmup N]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/log.h"
#include "mcp/client.h"
#include "mcp/stdio.h"

using namespace naut;
namespace fs = std::filesystem;

struct Figures {
  double p50_us = 0, p99_us = 0, calls_per_s = 0;
};

Result<Figures> Measure(const std::string& name, std::vector<std::string> argv, int warmup, int calls) {
  auto client = mcp::Client::Connect(std::make_unique<mcp::StdioClientTransport>(name, SpawnOptions{.argv = argv}), {});
  if (!client) return client.error();
  Json args{{"message", "benchmark payload"}};
  for (int i = 0; i < warmup; ++i) {
    auto r = (*client)->CallTool("echo", args);
    if (!r) return r.error();
  }
  std::vector<double> us;
  us.reserve(calls);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = (*client)->CallTool("echo", args);
    auto t1 = std::chrono::steady_clock::now();
    if (!r) return r.error();
    if (r->is_error) return Internal(name + ": echo failed");
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(us.begin(), us.end());
  Figures f;
  f.p50_us = us[us.size() / 2];
  f.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  f.calls_per_s = calls / total_s;
  (*client)->Close();
  return f;
}

int main(int argc, char** argv) {
  (void)InitLogging({.level = "warn"});
  int calls = 2000, warmup = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--calls") calls = std::max(1, std::atoi(argv[i + 1]));
    if (a == "--warmup") warmup = std::max(0, std::atoi(argv[i + 1]));
  }
  fs::path modules = fs::path(NAUT_SOURCE_DIR) / "tests/peers/node_modules";
  std::string node = fs::exists(modules / ".bin/node") ? (modules / ".bin/node").string() : "node";
  struct Peer {
    std::string label;
    std::vector<std::string> argv;
  };
  std::vector<Peer> peers = {
      {"neuronaut client -> neuronaut server (fixture echo)", {NAUT_FIXTURE_SERVER}},
      {"neuronaut client -> server-everything echo (node)",
       {node, (modules / "@modelcontextprotocol/server-everything/dist/index.js").string(), "stdio"}},
  };
  std::printf("tools/call over stdio, %d sequential calls after %d warm-up calls\n", calls, warmup);
  std::printf("%-55s %10s %10s %12s\n", "pair", "p50 us", "p99 us", "calls/s");
  int status = 0;
  for (const auto& p : peers) {
    auto f = Measure(p.label, p.argv, warmup, calls);
    if (!f) {
      std::printf("%-55s failed: %s\n", p.label.c_str(), f.error().message().c_str());
      status = 1;
      continue;
    }
    std::printf("%-55s %10.0f %10.0f %12.0f\n", p.label.c_str(), f->p50_us, f->p99_us, f->calls_per_s);
  }
  return status;
}
