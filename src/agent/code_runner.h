#pragma once
// The agent's CodeRunner over the skill runtime (skills/runtime.h): a model-written Python
// code action runs in a child Python process with the offered skills defined before it, and
// every `tools.<server>__<tool>(...)` it makes comes back through the agent's ToolBox (which
// applies the agent's permissions). `tools` is imported for the action, so the action and the
// skills may use it without an import of their own.
//
// Isolation is the RuntimeOptions' launcher: the default runs plain `python3 -I` (results are
// marked not isolated); an isolating launcher from the sandbox module is passed in unchanged.
//
// Threads: Run() blocks the calling thread and calls the ToolBox on that same thread (the
// runtime serves the bridge from its wait loop); the agent calls it from its own thread only.

#include "agent/toolbox.h"
#include "skills/runtime.h"

namespace naut::agent {

class SkillsCodeRunner : public CodeRunner {
 public:
  explicit SkillsCodeRunner(skills::RuntimeOptions options = {}) : options_(std::move(options)) {}

  Result<CodeOutcome> Run(const std::string& code, const std::string& skills, ToolBox& tools,
                          int max_tool_calls, std::chrono::milliseconds timeout) override;

  // The source the runtime executes: the bridge import, each tool of `tool_names` bound to its
  // bare name too (models write `game__send_message(...)` as often as
  // `tools.game__send_message(...)`), the skills, then the action.
  static std::string Program(const std::string& code, const std::string& skills,
                             const std::vector<std::string>& tool_names = {});

 private:
  skills::RuntimeOptions options_;
};

}  // namespace naut::agent
