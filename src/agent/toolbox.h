#pragma once
// What the agent acts through. A ToolBox lists the environment's tools as `<server>__<tool>`
// and calls them; the MCP client hub implements it for real servers. A CodeRunner runs a
// model-written Python action whose `tools.<name>(...)` calls come back through a ToolBox.
// SkillLibrary and EpisodeMemory are the agent's view of the skills and memory modules.
//
// The agent loop calls all of these from its own thread only.

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "llm/chat.h"
#include "mcp/permissions.h"

namespace naut::agent {

struct ToolInfo {
  llm::ToolSpec spec;        // name is <server>__<tool>
  bool destructive = false;  // MCP annotation destructiveHint (or a known destructive tool)
  bool read_only = false;
};

struct ToolOutcome {
  std::string text;  // the content as the model will read it
  bool is_error = false;
  std::optional<Json> structured;
};

class ToolBox {
 public:
  virtual ~ToolBox() = default;
  virtual Result<std::vector<ToolInfo>> ListTools() = 0;
  // Transport failures and timeouts are errors; a tool's own isError result is an outcome.
  virtual Result<ToolOutcome> CallTool(const std::string& name, const Json& arguments,
                                       std::chrono::milliseconds timeout,
                                       std::stop_token cancel) = 0;
  virtual Result<std::string> ReadResource(const std::string& uri) = 0;
};

struct CodeOutcome {
  bool ok = false;           // ran to the end without an exception
  std::string output;        // printed output (capped)
  std::string return_value;  // repr of the value of the last expression / return, if any
  std::string error;         // traceback or the limit that stopped it
  struct Call {
    std::string tool;
    Json arguments;
    std::string result;
    bool is_error = false;
    double ms = 0;  // how long the call took
  };
  std::vector<Call> calls;  // tool calls the code made, in order
};

class CodeRunner {
 public:
  virtual ~CodeRunner() = default;
  // Runs `code` with `skills` (Python source of helper functions) defined before it; tool calls
  // go through `tools`; at most `max_tool_calls` of them.
  virtual Result<CodeOutcome> Run(const std::string& code, const std::string& skills,
                                  ToolBox& tools, int max_tool_calls,
                                  std::chrono::milliseconds timeout) = 0;
};

struct SkillSnippet {
  std::string name;
  std::string description;
  std::string code;
  double similarity = 1;  // to the task it was retrieved for (cosine of the embeddings)
  // "verified" (run on its task and the checker agreed), "draft" (run so and failed: `check`
  // says why) or "unverified" (never run so).
  std::string verification = "unverified";
  std::string check;
};

class SkillLibrary {
 public:
  virtual ~SkillLibrary() = default;
  virtual Result<std::vector<SkillSnippet>> Retrieve(const std::string& task,
                                                     const std::string& env, int k) = 0;
  // Validates and stores a skill (a new version when the name exists); returns its name, or
  // an error naming why it was refused.
  virtual Result<std::string> Add(const std::string& code, const std::string& task,
                                  const std::string& env) = 0;
  // One use of a skill in a task that succeeded or failed (`why`: the critic's reason).
  virtual Status RecordOutcome(const std::string& name, bool success, const std::string& why) = 0;
  // The current version of `name` was run on its task: it did it (verified) or not (a draft,
  // with `note` saying why).
  virtual Status SetVerification(const std::string& name, bool verified,
                                 const std::string& note) = 0;
  // The skill stored for `task` by an earlier attempt, so a resumed task is not learned twice.
  virtual Result<std::optional<std::string>> SkillForTask(const std::string& task,
                                                          const std::string& env) = 0;
};

struct Episode {
  std::string env;
  std::string task;
  bool success = false;
  std::string critique;
  std::string summary;  // what was done
  std::string run_id;
  int64_t task_id = 0;
};

class EpisodeMemory {
 public:
  virtual ~EpisodeMemory() = default;
  // Short readable lines about similar earlier episodes.
  virtual Result<std::vector<std::string>> Retrieve(const std::string& task, const std::string& env,
                                                    int k) = 0;
  virtual Status Record(const Episode& episode) = 0;
};

using mcp::GlobMatch;  // the one glob of [permissions] and profiles' allow/deny lists

}  // namespace naut::agent
