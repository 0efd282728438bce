#pragma once
// The skill runtime: runs a skill (or any model-written Python action) in a child Python
// process with a bridge so the code calls MCP tools as `tools.rpg__press_inline_button(
// chat_id=1, button_text="Hunt")` or `tools.call("fs__read_text_file", path="a.txt")`.
//
// The child speaks JSON lines with the host over its stdin/stdout: tool calls go out, their
// results (or errors, raised in Python as tools.ToolError) come back, printed output is
// streamed. Each call goes through a ToolInvoker, which applies [permissions]: the agent's code
// runner plugs in its ToolBox (agent/code_runner.h), the skills server the ClientManager
// (skills/hub_invoker.h). A result reaches the code as mcp::ToolResult::AsText, the text the
// model reads after a direct call (or as its structured content when it has one). Budgets: the host
// counts tool calls and kills the child at the first call past the call budget; a wall-clock
// deadline kills it when time runs out. Either way the result says which budget stopped it and
// keeps the calls made and the output printed so far.
//
// Isolation: with RuntimeOptions::sandbox set (SandboxedRuntimeOptions builds it from
// [sandbox]) the child runs inside the sandbox module: own namespaces, no network, a seccomp
// filter, rlimits, the workspace at /work and nothing else of the host writable. The bridge
// then runs over two FIFOs in a per-run directory inside the workspace (the sandbox passes no
// other descriptors in), the request over the sandbox's stdin, and the time budget is the
// sandbox's wall-clock limit, which kills every process of the run. Where namespaces are
// unavailable a sandboxed run is refused (Run returns kFailedPrecondition saying why) unless
// the options ask for the unisolated fall-back, whose results say `isolated = false` and why.
// Without RuntimeOptions::sandbox, RuntimeOptions::launch starts plain `python3 -I` and marks
// results `isolated = false` (tests and trusted code only).
//
// Threads: Run() blocks the calling thread (a sandboxed run also starts and joins one thread
// that waits in sandbox::Run; tool calls are made on the calling thread); a Runtime may run
// several skills from several threads at once if its ToolInvoker is thread-safe, each run with
// its own bridge directory, also when they share a workspace.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/json.h"
#include "core/status.h"
#include "core/subprocess.h"
#include "mcp/tool.h"
#include "sandbox/sandbox.h"

namespace naut::skills {

// Calls one tool by its qualified name "<server>__<tool>". Thread-safety is the implementer's.
class ToolInvoker {
 public:
  virtual ~ToolInvoker() = default;
  virtual Result<mcp::ToolResult> Call(const std::string& qualified_name,
                                       const Json& arguments) = 0;
};

struct ToolCallRecord {
  std::string tool;
  Json arguments;
  std::string result;  // text of the result (or the error), capped
  bool is_error = false;
  double ms = 0;
};

enum class StopReason { kFinished, kException, kCallBudget, kTimeBudget, kCrashed };
std::string_view StopReasonName(StopReason reason);

struct RunResult {
  StopReason stop = StopReason::kFinished;
  bool ok() const { return stop == StopReason::kFinished; }
  Json value;          // the return value (JSON, or its repr() as a string)
  std::string output;  // what the code printed (capped)
  bool output_truncated = false;
  std::vector<ToolCallRecord> tool_calls;
  std::string traceback;  // for kException
  std::string error;      // one line for the model: what stopped the run
  bool isolated = false;  // false: ran without the sandbox
  // Empty when isolated; else why not ("[sandbox] mode is \"unisolated\"", "no sandbox
  // configured", or the reason isolation is unavailable here when falling back).
  std::string isolation_note;
  double ms = 0;
};

struct RunLimits {
  int max_tool_calls = 50;
  std::chrono::milliseconds wall = std::chrono::seconds(60);
  size_t max_output = 64 * 1024;
};

struct RunRequest {
  std::string code;
  // The function to call with `arguments` (a JSON object of keyword arguments). Empty: run
  // `code` as a script (an action); its value is the variable `result` when it sets one.
  std::string entry;
  Json arguments = Json::object();
  RunLimits limits;
};

// How a sandboxed run is set up (see the header comment).
struct SandboxedLaunch {
  sandbox::Limits limits;  // wall_s is replaced by each run's RunLimits::wall
  // Mounted read-write at /work (the run's working directory); empty: a fresh directory per
  // run, removed afterwards. The bridge directory inside it is removed after each run.
  std::filesystem::path workspace;
  sandbox::Mode mode = sandbox::Mode::kIsolated;
  // Where isolation is unavailable, run unisolated (the sandbox's rlimits, seccomp filter and
  // wall clock, the host's file system and network) instead of refusing; results say so.
  bool fall_back_to_unisolated = false;
  std::string why_unisolated;  // for results when mode is kUnisolated
};

struct RuntimeOptions {
  // Set: runs the child in the sandbox and `launch` is not used.
  std::optional<SandboxedLaunch> sandbox;
  // Starts the child. Default: Subprocess::Spawn of the given options (no isolation).
  std::function<Result<std::unique_ptr<Subprocess>>(const SpawnOptions&)> launch;
  bool launch_isolates = false;  // set by an isolating launcher; copied into results
  std::string python = "python3";
};

class Runtime {
 public:
  Runtime(ToolInvoker& tools, RuntimeOptions options = {});
  // Errors are for a run that could not start (no python3); everything that happens inside
  // the run, including exceptions and budgets, is a RunResult.
  Result<RunResult> Run(const RunRequest& request);

 private:
  Result<RunResult> RunPlain(const RunRequest& request);
  Result<RunResult> RunSandboxed(const RunRequest& request);

  ToolInvoker& tools_;
  RuntimeOptions options_;
};

// Options that run skills in the sandbox, from [sandbox] (mode, limits): mode "isolated" (the
// default) refuses where namespaces are unavailable, "unisolated" runs with the sandbox's
// rlimits, seccomp filter and wall clock but not isolated, and results say so. `workspace`
// as in SandboxedLaunch. Errors: an unknown mode.
Result<RuntimeOptions> SandboxedRuntimeOptions(const Config& config,
                                               std::filesystem::path workspace = {});

// The Python side of the bridge (the `tools` module and the runner), for tests and docs.
std::string_view BridgeSource();

}  // namespace naut::skills
