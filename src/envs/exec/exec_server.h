#pragma once
// The built-in `exec` tool server: run code a model wrote, in the sandbox, inside one
// workspace directory (one per session under the data home).
//
// Tools: run_python(code, stdin?, timeout_s?), run_shell(command, stdin?, timeout_s?),
// run_cpp(source, args?, stdin?, timeout_s?), run_swift(source, args?, stdin?, timeout_s?)
// (says so when no `swift` is on the PATH), build_package(path, timeout_s?) (CMake
// configure + build + CTest, or a Python package's tests, with compiler diagnostics parsed
// into file/line/column/severity/message and the test counts).
//
// Every result carries the run's outcome as structured content (exit code, signal, limit
// hit, capped stdout/stderr, time, peak memory, `isolated`); a run that did not succeed is
// an `isError` result the model should read. A sandbox that cannot isolate makes every
// tool answer with the reason (never a silent unisolated run).
//
// Handlers may run concurrently: each run uses its own file names in the workspace.

#include <filesystem>
#include <vector>

#include "core/config.h"
#include "mcp/tool.h"
#include "sandbox/sandbox.h"

namespace naut::envs::exec {

struct ExecOptions {
  std::filesystem::path workspace;  // created (0700) if missing
  sandbox::Limits limits;           // per run; timeout_s arguments may lower wall_s
  sandbox::Mode mode = sandbox::Mode::kIsolated;
  double max_timeout_s = 600;    // the largest timeout_s a call may ask for
  double build_timeout_s = 600;  // default wall-clock limit of each build_package step
};

// The tools; errors are for a workspace that cannot be created.
Result<std::vector<mcp::Tool>> MakeExecTools(const ExecOptions& options);

// The `exec` server of `neuronaut mcp-server exec`: [sandbox] limits and mode; the workspace
// is [sandbox] workspace, else a new directory under <home>/workspaces.
Result<mcp::ServerDefinition> MakeExecServer(const Config& config);

}  // namespace naut::envs::exec
