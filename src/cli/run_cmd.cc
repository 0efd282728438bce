// neuronaut run: the learning agent loop, with a live progress display (or --json events)
// and a summary at the end. Ctrl-C stops after the current step and SIGTERM at once (a model
// call under way is cancelled), both leaving the task active and exiting cleanly; `--resume`
// (the default) continues a stopped or killed run's unfinished task. Run as
// a systemd service it reports readiness, its task and stopping, and feeds the watchdog while
// the agent shows progress (core/service_notify.h).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#include "agent/agent.h"
#include "agent/code_runner.h"
#include "agent/library.h"
#include "agent/mcp_toolbox.h"
#include "agent/profile_toolbox.h"
#include "cli/context.h"
#include "core/data_home.h"
#include "core/home_lock.h"
#include "core/ids.h"
#include "core/service_notify.h"
#include "envs/registry.h"
#include "llm/embedded_backend.h"
#include "llm/endpoint_pool.h"
#include "llm/model_factory.h"
#include "llm/openai_backend.h"
#include "llm/pool_journal.h"
#include "mcp/hub.h"
#include "memory/embedder.h"
#include "memory/memory_store.h"
#include "skills/runtime.h"
#include "skills/skill_store.h"

namespace naut::cli {

namespace {

struct RunFlags {
  std::string env;
  std::string goal;
  int max_tasks = -1;
  bool resume = false;
  bool fresh = false;
  bool json = false;
  std::optional<int64_t> seed;  // a new game with this seed before the run
  double max_minutes = 0;       // 0: no time limit
  int max_model_calls = 0;      // 0: no limit
  bool no_skills = false;
  bool no_memory = false;
  std::string critic = "checker";
  std::string curriculum = "auto";
  // `neuronaut skills consolidate`: the run's set-up, then one consolidation pass instead of
  // tasks (only the groups with `dry_run`).
  bool consolidate = false;
  bool dry_run = false;
};

// "<model name> (<n> cores)" of this machine, for the run's record.
std::string MachineDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, cpu = "unknown CPU";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  return cpu + " (" + std::to_string(std::thread::hardware_concurrency()) + " cores)";
}

std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_signal{0};

void OnSignal(int sig) {
  g_stop_signal = sig;
  g_stop_requested = true;
}

std::string Short(const Json& j, size_t cap) {
  std::string s = j.is_string() ? j.get<std::string>() : DumpJson(j);
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s.size() > cap ? s.substr(0, cap) + "..." : s;
}

// The terminal display: one line per step, indented under its task.
void Show(const std::string& type, const Json& f) {
  auto& out = std::cerr;
  if (type == "run_start") {
    out << "NeuroNaut run " << f.value("run_id", "") << " in environment '" << f.value("env", "")
        << "'\n";
  } else if (type == "resume") {
    out << "resuming unfinished task: " << f.value("task", "") << " (attempt "
        << f.value("attempt", 0) << ")\n";
  } else if (type == "goal") {
    out << "goal: " << f.value("goal", "") << "\n  sub-goals: " << Short(f["subgoals"], 300)
        << "\n";
  } else if (type == "task_start") {
    out << "\n▶ task: " << f.value("task", "");
    if (!f.value("milestone", "").empty())
      out << "  [milestone " << f.value("milestone", "") << "]";
    out << "\n";
  } else if (type == "round") {
    out << "  round " << f.value("round", 0) << "\n";
  } else if (type == "tool_call") {
    out << (f.value("via", "") == "code" ? "      ↳ " : "    ")
        << (f.value("is_error", false) ? "✗ " : "· ") << f.value("tool", "") << " "
        << Short(f["arguments"], 100) << "\n";
  } else if (type == "code_action") {
    out << "    · python code action: "
        << (f.value("ok", false) ? "ok" : "failed " + f.value("error", "")) << ", "
        << f.value("tool_calls", 0) << " tool call(s)\n";
  } else if (type == "correction") {
    out << "    ! model output corrected: " << Short(f["problems"], 160) << "\n";
  } else if (type == "critic") {
    out << "    critic (" << f.value("source", "")
        << "): " << (f.value("success", false) ? "success" : "not yet");
    if (!f.value("critique", "").empty()) out << " — " << Short(f["critique"], 160);
    out << "\n";
  } else if (type == "skill") {
    out << "    skill " << f.value("status", "")
        << (f.contains("name") ? " " + f.value("name", "") : "")
        << (f.contains("reason") ? ": " + Short(f["reason"], 160) : "") << "\n";
  } else if (type == "skill_check") {
    out << "    check " << f.value("call", f.value("name", "")) << ": "
        << (f.value("passed", false) ? "passed" : "failed") << " — " << Short(f["note"], 160)
        << "\n";
  } else if (type == "consolidation") {
    out << "  consolidation of " << Short(f.value("sources", Json::array()), 160) << ": "
        << (f.value("merged", "").empty()
                ? "refused: " + f.value("refused", "")
                : (f.value("kind", "") == "split" ? "split into " : "merged into ") +
                      f.value("merged", ""))
        << "\n";
  } else if (type == "knowledge") {
    out << "    knowledge graph: " << f.value("status", "")
        << (f.contains("reason") ? ": " + Short(f["reason"], 160) : "") << "\n";
  } else if (type == "milestone") {
    out << "  milestone " << f.value("milestone", "") << ": " << f.value("note", "") << "\n";
  } else if (type == "task_end") {
    out << (f.value("success", false) ? "  ✓ done" : "  ✗ failed") << " after "
        << f.value("rounds", 0) << " round(s), " << f.value("model_calls", 0) << " model call(s)";
    if (!f.value("skill", "").empty()) out << "; skill " << f.value("skill", "");
    if (!f.value("reason", "").empty()) out << "; " << Short(f["reason"], 200);
    out << "\n";
  }
}

// Under systemd (`neuronaut service install`): the STATUS= line `systemctl status` shows.
void NotifyServiceStatus(const std::string& type, const Json& f) {
  if (type == "task_start") {
    NotifyStatus("task: " + f.value("task", ""));
  } else if (type == "round") {
    NotifyStatus("task: " + f.value("task", "") + " (round " + std::to_string(f.value("round", 0)) +
                 ")");
  }
}

// The agent's model, cut short by SIGTERM: a service manager's stop must not wait out a long
// answer (the task stays active and the step is redone on resume). Ctrl-C still lets the
// current step finish. Called from the agent's thread.
class CancelledOnTerm final : public llm::ChatModel {
 public:
  CancelledOnTerm(llm::ChatModel& inner, std::stop_token term)
      : inner_(inner), term_(std::move(term)) {}
  llm::ChatResult Chat(const llm::ChatRequest& request, const llm::CallOptions& options) override {
    llm::CallOptions o = options;
    if (!o.cancel.stop_possible()) o.cancel = term_;
    return inner_.Chat(request, o);
  }
  std::string Describe() const override { return inner_.Describe(); }

 private:
  llm::ChatModel& inner_;
  std::stop_token term_;
};

// --max-model-calls N: after the Nth call the run stops as at the end of a step (that call's
// action is carried out, the task stays active); a call asked for after it is not made. A run so
// bounded is the same on a slow machine and a fast one: a build and a seed make the same N calls.
class AtMostCalls final : public llm::ChatModel {
 public:
  AtMostCalls(llm::ChatModel& inner, int max_calls, std::stop_source& stop, std::stop_source& term)
      : inner_(inner), max_calls_(max_calls), stop_(stop), term_(term) {}
  llm::ChatResult Chat(const llm::ChatRequest& request, const llm::CallOptions& options) override {
    if (max_calls_ <= 0) return inner_.Chat(request, options);
    if (calls_ >= max_calls_) {
      term_.request_stop();
      stop_.request_stop();
      return llm::LlmError{.kind = llm::LlmError::Kind::kCancelled,
                           .message = "--max-model-calls " + std::to_string(max_calls_) +
                                      " reached; this call was not made"};
    }
    llm::ChatResult result = inner_.Chat(request, options);
    if (++calls_ == max_calls_) {
      spent_ = true;
      NotifyStopping("--max-model-calls reached; the task stays active and is resumed");
      stop_.request_stop();
    }
    return result;
  }
  std::string Describe() const override { return inner_.Describe(); }
  bool spent() const { return spent_; }

 private:
  llm::ChatModel& inner_;
  const int max_calls_;
  std::stop_source& stop_;
  std::stop_source& term_;
  std::atomic<int> calls_{0};
  std::atomic<bool> spent_{false};
};

// How long the agent may go without an event before the service watchdog stops being fed: the
// longest single step (a model call, a tool call, a code action) and a minute more.
std::chrono::milliseconds StallLimit(const Config& config) {
  double step_s =
      std::max({config.llm.timeout_s, config.mcp.call_timeout_s, config.sandbox.wall_s});
  return std::chrono::milliseconds(static_cast<int64_t>((step_s + 60) * 1000));
}

// The servers the profile's environment is made of: a server defined in mcp.json, else the
// built-in server of that name. A name that is neither is an error saying where to add it.
Result<std::vector<McpServerConfig>> ServersFor(const Config& config,
                                                const agent::EnvProfile& profile) {
  std::vector<McpServerConfig> servers;
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  envs::ResolvedServers resolved = envs::ResolveServers(config, self);
  for (const auto& name : profile.servers) {
    const McpServerConfig* found = resolved.Find(name);
    if (found != nullptr && found->disabled) {
      return FailedPrecondition("environment '" + profile.name + "' (" + profile.source +
                                ") plays on MCP server '" + name + "', which is disabled in " +
                                config.mcp_file.string() + "; remove \"disabled\": true there");
    }
    if (found != nullptr) {
      if (resolved.Hides(name)) std::cerr << envs::HiddenBuiltinNote(config, name) << "\n";
      servers.push_back(*found);
      continue;
    }
    std::string known;
    for (const auto& s : envs::BuiltinServers()) known += (known.empty() ? "" : ", ") + s.name;
    std::string builtin_note = config.mcp.builtin_servers
                                   ? "a built-in server (" + known + ")"
                                   : "a built-in server ([mcp] builtin_servers is off)";
    return NotFound(
        "environment '" + profile.name + "' (" + profile.source + ") plays on MCP server '" + name +
        "', which is neither " + builtin_note + " nor in " + config.mcp_file.string() +
        (config.mcp_file_present ? "" : " (no such file)") + "; add an entry \"" + name +
        "\" under \"mcpServers\" there (e.g. from examples/profiles/telegram.mcp.json)");
  }
  return servers;
}

// Tools the profile offers that the permission policy would refuse every time (destructive
// tools that [permissions] allow does not name), so the user hears of it before the run.
void WarnAboutRefusedTools(agent::ToolBox& tools, const agent::EnvProfile& profile,
                           const agent::PermissionPolicy& permissions) {
  auto listed = tools.ListTools();
  if (!listed) return;
  for (const auto& t : *listed) {
    if (!profile.ToolAllowed(t.spec.name) || !t.destructive) continue;
    std::string reason;
    if (permissions.Decide(t, &reason) == agent::PermissionPolicy::Decision::kDeny) {
      std::cerr << "warning: " << reason << "\n";
    }
  }
}

// Stop after the current step on Ctrl-C or SIGTERM: the handlers only set flags, which the stop
// watcher (WatchForStop) turns into stop requests.
void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// --fresh: the task a stopped run left active is failed as abandoned instead of resumed.
void AbandonActiveTask(agent::ProgressStore& progress, const std::string& env) {
  auto active = progress.ActiveTask(env);
  if (active && active->has_value()) {
    (void)progress.FinishTask((*active)->id, agent::TaskStatus::kFailed, "",
                              "abandoned by --fresh");
  }
}

// The memory store and the skill store over it, in the data home.
struct LearningStores {
  std::unique_ptr<memory::MemoryStore> memories;
  std::unique_ptr<skills::SkillStore> skills;
};

Result<LearningStores> OpenLearningStores(const Config& config, const DataHome& home) {
  NAUT_ASSIGN_OR_RETURN(auto embedder, memory::MakeEmbedder(config));
  memory::StoreOptions store_options;
  store_options.index_dir = home.root / "index";
  LearningStores stores;
  NAUT_ASSIGN_OR_RETURN(stores.memories, memory::MemoryStore::Open(
                                             home.database(), std::move(embedder), store_options));
  NAUT_ASSIGN_OR_RETURN(
      stores.skills, skills::SkillStore::Open(*stores.memories, {.skills_dir = home.skills_dir()}));
  return stores;
}

// The environment's own servers must be up: without them there is nothing to play.
Status RequireEnvironmentServers(const mcp::ClientManager& hub, const agent::EnvProfile& profile,
                                 const Config& config) {
  for (const auto& s : hub.Statuses()) {
    const bool environment =
        std::find(profile.servers.begin(), profile.servers.end(), s.name) != profile.servers.end();
    if (!environment && s.state != mcp::ServerState::kConnected) {
      // The knowledge graph: the agent carries on without it and says so.
      std::cerr << "note: knowledge graph server '" << s.name << "' could not start (" << s.target
                << "): " << s.detail << "; the agent carries on without it\n";
    }
    if (environment && s.state != mcp::ServerState::kConnected) {
      return Unavailable("environment '" + profile.name + "': MCP server '" + s.name +
                         "' could not start (" + s.target + "): " + s.detail +
                         "; check its entry in " + config.mcp_file.string() +
                         " or try `neuronaut mcp tools " + s.name + "`");
    }
  }
  return Status::Ok();
}

// --seed: the world starts over with this seed, so the environment's milestones are to be
// reached again (skills and memories are kept: that is how transfer is measured). A profile
// without a reset tool only gets a note.
Status StartNewGame(agent::ToolBox& toolbox, agent::ProgressStore& progress,
                    const agent::EnvProfile& profile, int64_t seed, const Config& config) {
  if (profile.reset_tool.empty()) {
    std::cerr << "note: --seed: environment '" << profile.name
              << "' names no [checker] reset_tool; the seed only seeds the model's sampling\n";
    return Status::Ok();
  }
  auto reset = toolbox.CallTool(
      profile.reset_tool, Json{{"seed", seed}},
      std::chrono::milliseconds(static_cast<int64_t>(config.mcp.call_timeout_s * 1000)), {});
  if (!reset) return reset.error().WithContext("--seed: " + profile.reset_tool);
  if (reset->is_error)
    return FailedPrecondition("--seed: " + profile.reset_tool + " refused: " + reset->text);
  return progress.StartNewGame(profile.name);
}

// The context a model server says it holds for one request (llama-server's /props n_ctx, which
// is per slot), the smallest over a pool's endpoints that answer; nothing when none says.
std::optional<int64_t> ServedContext(llm::ChatModel& model) {
  std::optional<int64_t> smallest;
  auto take = [&](int64_t n) {
    if (n > 0 && (!smallest || n < *smallest)) smallest = n;
  };
  if (auto* pool = dynamic_cast<llm::EndpointPool*>(&model)) {
    for (const auto& e : pool->Status(/*probe=*/true)) take(e.context_size);
  } else if (auto* server = dynamic_cast<llm::OpenAiBackend*>(&model)) {
    if (auto info = server->Info()) take(info->context_size);
  }
  return smallest;
}

// The agent's options from the configuration and the flags.
agent::AgentOptions AgentOptionsFor(const Config& config, const RunFlags& flags,
                                    const llm::ChatModel& model, const std::string& run_id,
                                    const DataHome& home) {
  agent::AgentOptions options;
  options.run_id = run_id;
  options.run_info = {{"llm",
                       {{"backend", config.llm.backend},
                        {"model", model.Describe()},
                        {"threads", config.llm.threads},
                        {"slots", config.llm.slots},
                        {"context_size", config.llm.context_size}}},
                      {"machine", MachineDescription()},
                      {"seed", flags.seed ? Json(*flags.seed) : Json(nullptr)}};
  if (flags.seed) options.sampling.seed = *flags.seed;  // the same seed plays the same way
  options.critic = flags.critic == "llm" ? agent::CriticKind::kLlm : agent::CriticKind::kChecker;
  options.curriculum =
      flags.curriculum == "fixed" ? agent::CurriculumKind::kFixed : agent::CurriculumKind::kAuto;
  options.goal = flags.goal;
  options.max_tasks = flags.max_tasks >= 0 ? flags.max_tasks : config.agent.max_tasks;
  options.max_rounds = config.agent.max_rounds;
  options.task_limits = {
      .rounds = config.agent.max_rounds,
      .tool_calls = config.agent.max_tool_calls_per_task,
      .tokens = config.agent.max_tokens_per_task,
      .wall = std::chrono::milliseconds(static_cast<int64_t>(config.agent.max_task_s * 1000))};
  options.tool_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.mcp.call_timeout_s * 1000));
  options.code_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.sandbox.wall_s * 1000));
  options.skills_top_k = config.agent.skills_top_k;
  options.skills_min_similarity = config.agent.skills_min_similarity;
  options.sampling.temperature = config.agent.temperature;
  options.memories_top_k = flags.no_memory ? 0 : config.agent.memories_top_k;
  // Lessons are memories too: without memory retrieval none are drawn.
  options.reflect =
      flags.no_memory
          ? agent::ReflectWhen::kOff
          : agent::ParseReflectWhen(config.agent.reflect).value_or(agent::ReflectWhen::kFailures);
  options.replay_skills = config.agent.replay_skills;
  options.consolidate_every = flags.no_skills ? 0 : config.agent.consolidate_every;
  options.consolidation.min_similarity = config.agent.consolidate_similarity;
  options.consolidation.split_below = config.agent.split_below;
  if (config.llm.context_size > 0) options.context_tokens = config.llm.context_size;
  // The embedded engine knows the context it really holds (the model's may be smaller).
  if (const auto* embedded = dynamic_cast<const llm::EmbeddedBackend*>(&model))
    options.context_tokens = embedded->context_size();
  options.permissions = {mcp::PermissionPolicy::FromConfig(config.permissions)};
  if (isatty(STDIN_FILENO) && !flags.json) {
    options.permissions.ask_user = [](const std::string& tool, const Json& args) {
      std::cerr << "allow " << tool << " " << Short(args, 200) << "? [y/N] " << std::flush;
      std::string answer;
      std::getline(std::cin, answer);
      return answer == "y" || answer == "Y" || answer == "yes";
    };
  }
  options.prompt_dir = home.root / "prompts";
  return options;
}

// Where the agent's events go: the watchdog is fed and the service status updated by each, and
// each is shown on the terminal or printed as a JSON line (--json).
agent::EventSink EventOutput(bool json, ServiceWatchdog& watchdog) {
  return [json, &watchdog](const std::string& type, const Json& fields) {
    watchdog.Progress();
    NotifyServiceStatus(type, fields);
    if (json) {
      Json line = fields;
      line["type"] = type;
      std::cout << DumpJson(line) << "\n" << std::flush;
    } else {
      Show(type, fields);
    }
  };
}

// The thread that turns a signal, or --max-minutes running out, into stop requests: `stop` ends
// the run after the current step; `term` (SIGTERM, the time limit) also cuts a model call short.
// `timed_out` says which happened. Stops itself when the returned thread is destroyed.
std::jthread WatchForStop(std::stop_source& stop, std::stop_source& term,
                          std::atomic<bool>& timed_out, double max_minutes) {
  const auto deadline =
      max_minutes > 0
          ? std::optional(std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(max_minutes * 60000)))
          : std::nullopt;
  return std::jthread([&stop, &term, &timed_out, deadline](std::stop_token own) {
    while (!own.stop_requested()) {
      if (deadline && std::chrono::steady_clock::now() >= *deadline) {
        timed_out = true;
        // Time is up: the model call under way is cut short, the task stays active.
        NotifyStopping("--max-minutes reached; the task stays active and is resumed");
        term.request_stop();
        stop.request_stop();
        return;
      }
      if (g_stop_requested) {
        NotifyStopping("stopping after the current step; the task stays active and is resumed");
        if (g_stop_signal == SIGTERM) term.request_stop();
        stop.request_stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

// The summary on the terminal and the exit code: 0 for a run that ended as asked (SIGTERM,
// --max-minutes and --max-model-calls included), 1 for one stopped by a failure, 130 for Ctrl-C.
// `limit` names the limit that ended the run ("--max-minutes"), empty when none did.
int ReportRunEnd(const agent::RunSummary& summary, agent::ProgressStore& progress,
                 const std::string& env, const std::string& run_id, const DataHome& home, bool json,
                 const std::string& limit) {
  auto milestones = progress.Milestones(env);
  int done = 0, total = 0;
  if (milestones) {
    total = static_cast<int>(milestones->size());
    for (const auto& m : *milestones) done += m.done ? 1 : 0;
  }
  if (!json) {
    std::cerr << "\nrun " << run_id << ": " << summary.tasks << " task(s), " << summary.done
              << " done, " << summary.failed << " failed; milestones " << done << "/" << total
              << "; " << summary.model_calls << " model call(s), " << summary.tool_calls
              << " tool call(s), " << summary.prompt_tokens << " prompt tokens ("
              << summary.cached_tokens << " cached)\n"
              << "stopped because " << summary.stop_reason << "\n"
              << "progress: " << home.progress_file().string() << "\n";
  }
  // SIGTERM cuts a model call short, which the agent reports as an error; the run still ended
  // as asked, with its task active.
  bool terminated = g_stop_signal == SIGTERM || !limit.empty();
  if (terminated && !json) {
    std::cerr << (limit.empty() ? "stopped by SIGTERM" : "stopped at " + limit)
              << "; the unfinished task is resumed by the next run\n";
  }
  if (summary.error && !terminated) {
    std::cerr << "neuronaut run: " << summary.stop_reason << "\n";
    return kExitFailure;
  }
  // Stopped by SIGTERM (a service manager, `kill`), the run ended as asked: a clean exit.
  return g_stop_requested && !terminated ? 130 : kExitOk;
}

// `neuronaut skills consolidate`'s answer: each group merged (into what), refused (why), or in a
// dry run only found. Exit 0 unless the pass itself could not run.
int ReportConsolidation(const Result<std::vector<agent::Consolidation>>& result,
                        const RunFlags& flags) {
  if (!result) return Fail(result.error());
  if (flags.json) {
    Json out = Json::array();
    for (const auto& c : *result) {
      Json checks = Json::array();
      for (const auto& k : c.checks) {
        checks.push_back({{"source", k.source},
                          {"task", k.task},
                          {"call", k.call},
                          {"passed", k.check.state == agent::SkillCheck::State::kPassed},
                          {"note", k.check.note}});
      }
      out.push_back({{"kind", c.kind},
                     {"sources", c.sources},
                     {"similarity", c.similarity},
                     {"merged", c.merged},
                     {"refused", c.refused},
                     {"checks", checks}});
    }
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  if (result->empty()) std::cout << "no skills alike enough to consolidate\n";
  for (const auto& c : *result) {
    std::string names;
    for (const auto& n : c.sources) names += (names.empty() ? "" : ", ") + n;
    std::cout << names << " (similarity " << std::to_string(c.similarity).substr(0, 4) << "): ";
    if (flags.dry_run) {
      std::cout << "alike\n";
    } else if (!c.merged.empty()) {
      std::cout << (c.kind == "split" ? "split into " : "merged into ") << c.merged
                << ", checked on " << c.checks.size() << " task(s)\n";
    } else {
      std::cout << "refused: " << c.refused << "\n";
    }
  }
  return kExitOk;
}

// The run's steps in order; every object made here lives until the agent has stopped, and
// whatever has started (MCP servers, a llama-server) is stopped on the way out.
int Run(Context& ctx, const RunFlags& flags) {
  auto config = ctx.LoadConfig();
  if (!config) return Fail(config.error());
  InstallStopHandlers();
  // Fed while the agent shows progress (any event); a no-op outside systemd.
  ServiceWatchdog watchdog(StallLimit(*config));
  auto home = OpenDataHome(config->home);
  if (!home) return Fail(home.error());
  // One agent per data home: two would work the same milestones and drive one saved game.
  std::string run_id = NewId();
  auto lock = HomeLock::Acquire(*home, run_id, "neuronaut run");
  if (!lock) return Fail(lock.error());
  if (const auto& dead = lock->took_over()) {
    std::cerr << "note: run " << dead->run_id << " (pid " << dead->pid
              << ") ended without stopping cleanly; its unfinished task is resumed\n";
  }
  auto profile = agent::LoadProfile(flags.env.empty() ? config->agent.env : flags.env);
  if (!profile) return Fail(profile.error());
  auto model = llm::MakeChatModel(config->llm, home->logs_dir() / llm::kPoolJournalName);
  if (!model) return Fail(model.error());
  auto progress = agent::ProgressStore::Open(home->database(), home->progress_file());
  if (!progress) return Fail(progress.error());
  if (flags.fresh) AbandonActiveTask(**progress, profile->name);
  auto stores = OpenLearningStores(*config, *home);
  if (!stores) return Fail(stores.error());
  agent::StoreSkillLibrary skill_library(*stores->skills);
  agent::StoreEpisodeMemory episodes(*stores->memories, config->agent.skills_min_similarity);

  // Without [sandbox] workspace, each environment works in its own directory of the data home,
  // the same for its fs and exec servers and for every run (a resumed task finds its files).
  if (config->sandbox.workspace.empty())
    config->sandbox.workspace = (home->root / "workspaces" / profile->name).string();
  auto servers = ServersFor(*config, *profile);
  if (!servers) return Fail(servers.error());
  const std::string& graph = config->agent.knowledge_graph;
  if (!graph.empty()) {
    auto found = std::find_if(config->mcp_servers.begin(), config->mcp_servers.end(),
                              [&](const McpServerConfig& s) { return s.name == graph; });
    if (found == config->mcp_servers.end()) {
      return Fail(NotFound("[agent] knowledge_graph names MCP server '" + graph + "', which " +
                           config->mcp_file.string() +
                           " does not define (e.g. npx @modelcontextprotocol/server-memory)"));
    }
    if (std::find(profile->servers.begin(), profile->servers.end(), graph) ==
        profile->servers.end())
      servers->push_back(*found);
  }
  mcp::ClientManager hub(*servers, mcp::HubOptionsFrom(*config));
  hub.ConnectAll();
  if (Status up = RequireEnvironmentServers(hub, *profile, *config); !up.ok()) return Fail(up);
  hub.StartSupervisor();
  agent::McpToolBox hub_tools(hub, profile->servers);
  // The model sees the profile's tools under its prefix (game__*), whatever the server is called.
  agent::ProfileToolBox toolbox(hub_tools, *profile);
  auto trace = agent::TraceWriter::Open(home->runs_dir(), run_id);
  if (!trace) return Fail(trace.error());
  if (flags.seed) {
    Status reset = StartNewGame(toolbox, **progress, *profile, *flags.seed, *config);
    if (!reset.ok()) return Fail(reset);
  }

  agent::AgentOptions options = AgentOptionsFor(*config, flags, **model, run_id, *home);
  // Prompts are planned for the context the server really holds when it holds less than the
  // configuration says (a llama-server started with its default or a small --ctx-size): else
  // every long prompt would be refused as too long.
  if (auto served = ServedContext(**model); served && *served < options.context_tokens) {
    std::cerr << "neuronaut: the model server holds " << *served << " tokens of context per "
              << "request (configured: " << options.context_tokens << "); prompts are planned for "
              << *served << "\n";
    options.context_tokens = *served;
    options.run_info["llm"]["served_context"] = *served;
  }
  WarnAboutRefusedTools(toolbox, *profile, options.permissions);
  // Code actions run through the skill runtime inside the sandbox (a fresh workspace per
  // action); their tool calls go through the same toolbox and permissions.
  auto runtime_options = skills::SandboxedRuntimeOptions(*config);
  if (!runtime_options) return Fail(runtime_options.error());
  agent::SkillsCodeRunner code_runner(std::move(*runtime_options));
  std::stop_source stop;  // ends the run after the current step
  std::stop_source term;  // SIGTERM, a limit: also cancels a model call under way
  CancelledOnTerm stoppable_model(**model, term.get_token());
  AtMostCalls bounded_model(stoppable_model, flags.max_model_calls, stop, term);
  agent::Agent agent(bounded_model, toolbox, **progress, **trace, *profile, options,
                     flags.no_skills ? nullptr : &skill_library, &episodes, &code_runner,
                     EventOutput(flags.json, watchdog));
  if (!graph.empty()) agent.UseKnowledgeGraph(hub_tools, graph);

  if (flags.consolidate) return ReportConsolidation(agent.Consolidate(flags.dry_run), flags);

  std::atomic<bool> timed_out{false};
  std::jthread watcher = WatchForStop(stop, term, timed_out, flags.max_minutes);
  NotifyReady("running in environment '" + profile->name + "', run " + run_id);
  auto summary = agent.Run(stop.get_token());
  if (!summary) return Fail(summary.error());
  std::string limit = timed_out               ? "--max-minutes"
                      : bounded_model.spent() ? "--max-model-calls"
                                              : "";
  return ReportRunEnd(*summary, **progress, profile->name, run_id, *home, flags.json, limit);
}

}  // namespace

void AddSkillsConsolidateCommand(CLI::App& skills, Context& ctx) {
  static RunFlags flags;
  flags.consolidate = true;
  auto* cmd = skills.add_subcommand(
      "consolidate",
      "Merge skills that do the same thing into one general skill, checked on each of their "
      "tasks before it replaces them (starts the environment and asks the model)");
  cmd->add_option("--env", flags.env, "rpg | pkg | path to a profile .toml (default: [agent] env)");
  cmd->add_flag("--dry-run", flags.dry_run, "Only list the groups of alike skills (no model call)");
  cmd->add_flag("--json", flags.json, "Print JSON");
  cmd->callback([&ctx] { ctx.exit_code = Run(ctx, flags); });
}

void AddRunCommand(CLI::App& app, Context& ctx) {
  static RunFlags flags;
  auto* run = app.add_subcommand(
      "run", "Run the learning agent loop in an environment (rpg, pkg or a profile file)");
  run->add_option("--env", flags.env, "rpg | pkg | path to a profile .toml (default: [agent] env)");
  run->add_option("--goal", flags.goal,
                  "Pursue this goal (decomposed into sub-goals) instead of the curriculum");
  run->add_option("--max-tasks", flags.max_tasks,
                  "Stop after this many tasks (default: [agent] max_tasks, 0 = no limit)");
  auto* resume = run->add_flag("--resume", flags.resume,
                               "Continue the unfinished task of a stopped run (the default)");
  run->add_flag("--fresh", flags.fresh, "Abandon an unfinished task instead of resuming it")
      ->excludes(resume);
  run->add_flag("--json", flags.json,
                "Print events as JSON lines on stdout instead of the live display");
  run->add_option("--seed", flags.seed,
                  "Start a new game with this seed first (the profile's reset tool) and seed "
                  "the model's sampling with it; the environment's milestones are to be reached "
                  "again, skills and memories stay")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--max-minutes", flags.max_minutes,
                  "Stop after this many minutes (the task under way stays active)")
      ->check(CLI::PositiveNumber);
  run->add_option("--max-model-calls", flags.max_model_calls,
                  "Stop after this many model calls (the task under way stays active)")
      ->check(CLI::PositiveNumber);
  run->add_flag("--no-skills", flags.no_skills,
                "Run without the skill library: nothing retrieved, nothing learned");
  run->add_flag("--no-memory", flags.no_memory,
                "Do not show the model earlier episodes or lessons (and draw none)");
  run->add_option("--critic", flags.critic,
                  "Who judges a task: checker (the profile's checker tool; the default) or llm "
                  "(the model, even where a checker exists)")
      ->check(CLI::IsMember({"checker", "llm"}));
  run->add_option("--curriculum", flags.curriculum,
                  "auto (milestones, skipping what keeps failing, then tasks the model proposes; "
                  "the default) or fixed (the milestones in order, each until reached)")
      ->check(CLI::IsMember({"auto", "fixed"}));
  run->callback([&ctx] { ctx.exit_code = Run(ctx, flags); });
}

}  // namespace naut::cli
