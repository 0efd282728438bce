// The agent loop's own cost per step: a scripted model that answers at once and an in-process
// world that answers at once, so what is left of the wall time is the agent: prompt building,
// tool-call parsing and validation, the rails, the checker round trip's bookkeeping, progress
// (SQLite + PROGRESS.md rewritten after every change), the trace file and episode memory.
//
//   agent_bench [--tasks N] [--memory 0|1]
//
// Each task is a milestone "m<k>" reached by pressing "train" twice: three model turns (two
// calls, then "done"), two tool calls and one checker call. Model and tool time are measured
// around each call and subtracted.

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>

#include "agent/agent.h"
#include "agent/library.h"
#include "core/config.h"
#include "core/ids.h"
#include "memory/embedder.h"
#include "memory/memory_store.h"

namespace {

using namespace naut;
using namespace naut::agent;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

class InstantModel : public llm::ChatModel {
 public:
  double ms = 0;
  int calls = 0;
  llm::ChatResult Chat(const llm::ChatRequest&, const llm::CallOptions&) override {
    auto start = Clock::now();
    llm::ChatResponse r;
    if (turn_++ % 3 < 2) {
      Json args = {{"button", "train"}};
      r.tool_calls.push_back(
          {"call-" + std::to_string(turn_), "game__press", args, DumpJson(args)});
      r.finish_reason = llm::FinishReason::kToolCalls;
    } else {
      r.content = "Done.";
      r.finish_reason = llm::FinishReason::kStop;
    }
    r.usage = {1200, 1000, 20};
    ++calls;
    ms += Ms(Clock::now() - start);
    return r;
  }
  std::string Describe() const override { return "instant"; }

 private:
  int turn_ = 0;
};

class CounterWorld : public ToolBox {
 public:
  double ms = 0;
  int calls = 0;
  Result<std::vector<ToolInfo>> ListTools() override {
    ToolInfo press{
        {"game__press", "Press a button",
         Json::parse(
             R"({"type":"object","properties":{"button":{"type":"string"}},"required":["button"]})")}};
    ToolInfo check{
        {"game__check_goal", "Check a goal",
         Json::parse(R"({"type":"object","properties":{"goal_id":{"type":"string"}}})")}};
    return std::vector<ToolInfo>{press, check};
  }
  Result<ToolOutcome> CallTool(const std::string& name, const Json& args, std::chrono::milliseconds,
                               std::stop_token) override {
    auto start = Clock::now();
    ++calls;
    ToolOutcome out;
    if (name == "game__check_goal") {
      int k = std::stoi(args.value("goal_id", "m1").substr(1));
      out = {"", false,
             Json{{"achieved", points_ >= 2 * k}, {"detail", std::to_string(points_) + " points"}}};
    } else {
      out = {"points " + std::to_string(++points_), false, {}};
    }
    ms += Ms(Clock::now() - start);
    return out;
  }
  Result<std::string> ReadResource(const std::string&) override {
    auto start = Clock::now();
    std::string s = "You have " + std::to_string(points_) + " points. Buttons: [train] [rest]";
    ms += Ms(Clock::now() - start);
    return s;
  }

 private:
  int points_ = 0;
};

int Bench(int tasks, bool with_memory) {
  fs::path dir = fs::temp_directory_path() / ("naut-agent-bench-" + NewId());
  fs::create_directories(dir);
  auto progress = ProgressStore::Open(dir / "neuronaut.db", dir / "PROGRESS.md");
  auto trace = TraceWriter::Open(dir / "runs", "bench");
  if (!progress || !trace) {
    std::fprintf(stderr, "cannot open the stores in %s\n", dir.c_str());
    return 1;
  }
  std::unique_ptr<memory::MemoryStore> memories;
  std::unique_ptr<StoreEpisodeMemory> episodes;
  if (with_memory) {
    auto embedder = memory::MakeEmbedder(Config{});
    memory::StoreOptions options;
    options.index_dir = dir / "index";
    auto m = memory::MemoryStore::Open(dir / "memory.db", std::move(*embedder), options);
    if (!m) {
      std::fprintf(stderr, "%s\n", m.error().ToString().c_str());
      return 1;
    }
    memories = std::move(*m);
    episodes = std::make_unique<StoreEpisodeMemory>(*memories);
  }
  EnvProfile profile;
  profile.name = "counter";
  profile.description = "A counter game: press train to gain points.";
  profile.observe_resource = "counter://state";
  profile.deny = {"game__check_goal"};
  profile.checker_tool = "game__check_goal";
  for (int k = 1; k <= tasks; ++k)
    profile.milestones.push_back(
        {"m" + std::to_string(k), "Reach " + std::to_string(2 * k) + " points"});
  AgentOptions options;
  options.run_id = "bench";
  options.max_tasks = tasks;
  InstantModel model;
  CounterWorld world;
  Agent agent(model, world, **progress, **trace, profile, options, nullptr, episodes.get(),
              nullptr);
  auto start = Clock::now();
  std::clock_t cpu_start = std::clock();
  auto summary = agent.Run({});
  double wall = Ms(Clock::now() - start);
  double cpu = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  if (!summary || summary->done != tasks) {
    std::fprintf(stderr, "the run did not finish every task: %s\n",
                 summary ? summary->stop_reason.c_str() : summary.error().ToString().c_str());
    return 1;
  }
  double own = wall - model.ms - world.ms;
  double own_cpu = cpu - model.ms - world.ms;
  std::printf("| %d | %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", tasks,
              with_memory ? "on" : "off", model.calls, world.calls, wall, model.ms, world.ms,
              own / model.calls, own_cpu / model.calls, own / tasks);
  // The memory store saves its index when it closes: close it before removing the directory.
  episodes.reset();
  memories.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {25, 100, 400};
  std::vector<bool> memory = {false, true};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--tasks") sizes = {std::stoi(argv[i + 1])};
    if (flag == "--memory") memory = {std::string(argv[i + 1]) == "1"};
  }
  std::printf(
      "| tasks | episode memory | model calls | tool calls | wall ms | model ms | tool ms | agent "
      "ms / step | of which CPU | agent ms / task |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (bool m : memory) {
    for (int n : sizes) {
      if (int rc = Bench(n, m)) return rc;
    }
  }
  return 0;
}
