// Start-to-exit time of a sandboxed command next to a plain fork/exec of the same command,
// in the same run: the ratio is the sandbox's start-up cost.
//
//   sandbox_bench [iterations]    (default 40; prints p50 and p90 in milliseconds)

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

bool PlainRun(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return false;
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 40;
  std::filesystem::path ws =
      std::filesystem::temp_directory_path() / ("naut-sandbox-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(ws);
  const std::string python =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  struct Case {
    std::string name;
    std::vector<std::string> argv;
  };
  std::vector<Case> cases = {{"/bin/true", {"/bin/true"}},
                             {"python3 -c pass", {python, "-c", "pass"}}};
  std::printf("%-18s %-22s %9s %9s\n", "command", "mode", "p50 ms", "p90 ms");
  for (const auto& c : cases) {
    auto measure = [&](const std::function<bool()>& run) {
      std::vector<double> ms;
      run();  // warm-up (page cache, seccomp program)
      for (int i = 0; i < iterations; ++i) {
        auto start = Clock::now();
        if (!run()) {
          std::fprintf(stderr, "run failed\n");
          std::exit(1);
        }
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      return ms;
    };
    auto sandboxed = [&](naut::sandbox::Mode mode) {
      return [&, mode] {
        naut::sandbox::Spec spec;
        spec.argv = c.argv;
        spec.workspace = ws;
        spec.mode = mode;
        auto r = naut::sandbox::Run(spec);
        if (!r.ok()) std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
        return r.ok() && r->success();
      };
    };
    auto plain = measure([&] { return PlainRun(c.argv); });
    auto iso = measure(sandboxed(naut::sandbox::Mode::kIsolated));
    auto uni = measure(sandboxed(naut::sandbox::Mode::kUnisolated));
    auto row = [&](const char* mode, const std::vector<double>& v) {
      std::printf("%-18s %-22s %9.2f %9.2f\n", c.name.c_str(), mode, Percentile(v, 0.5),
                  Percentile(v, 0.9));
    };
    row("plain fork/exec", plain);
    row("sandbox isolated", iso);
    row("sandbox unisolated", uni);
    std::printf("%-18s %-22s %9.2fx\n", c.name.c_str(), "isolated / plain (p50)",
                Percentile(iso, 0.5) / Percentile(plain, 0.5));
  }
  std::filesystem::remove_all(ws);
  return 0;
}
