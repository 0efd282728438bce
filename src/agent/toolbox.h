#pragma once
// What the agent acts through. A ToolBox lists the environment's tools as `<server>__<tool>`
// and calls them; the MCP client hub implements it for real servers. A CodeRunner runs a
// model-written Python action whose `tools.<name>(...)` calls come back through a ToolBox.
// SkillLibrary and EpisodeMemory are the agent's view of the skills and memory modules.
//
// The agent loop calls all of these from its own thread only.

#include <algorithm>
#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "llm/chat.h"
#include "mcp/permissions.h"

namespace naut::skills {
class SkillStore;
}  // namespace naut::skills

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
  bool replay = false;  // SkillOrigin::kReplay
};

// How a skill came to be: written by the model, or a replay of the calls that did its task
// (ReplaySkill in skill_writer.h). A replay repeats that task's calls with their literal
// arguments, so it is offered only for a task in the same words (ReplayFitsTask) and is never
// merged by consolidation. Stored as the tag kReplayTag.
enum class SkillOrigin { kModel, kReplay };
inline constexpr std::string_view kReplayTag = "replay";
inline bool IsReplay(const std::vector<std::string>& tags) {
  return std::find(tags.begin(), tags.end(), kReplayTag) != tags.end();
}

class SkillLibrary {
 public:
  virtual ~SkillLibrary() = default;
  virtual Result<std::vector<SkillSnippet>> Retrieve(const std::string& task,
                                                     const std::string& env, int k) = 0;
  // Validates and stores a skill (a new version when the name exists); returns its name, or
  // an error naming why it was refused.
  virtual Result<std::string> Add(const std::string& code, const std::string& task,
                                  const std::string& env, SkillOrigin origin) = 0;
  // One use of a skill in a task that succeeded or failed (`why`: the critic's reason).
  virtual Status RecordOutcome(const std::string& name, bool success, const std::string& why) = 0;
  // The current version of `name` was run on its task: it did it (verified) or not (a draft,
  // with `note` saying why).
  virtual Status SetVerification(const std::string& name, bool verified,
                                 const std::string& note) = 0;
  // The skill stored for `task` by an earlier attempt, so a resumed task is not learned twice.
  virtual Result<std::optional<std::string>> SkillForTask(const std::string& task,
                                                          const std::string& env) = 0;
  // The store underneath, for the tasks a skill passed on and for consolidation; null where
  // there is none.
  virtual skills::SkillStore* Store() { return nullptr; }
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

// An episode as replayed for reflection.
struct PastEpisode {
  int64_t id = 0;  // its memory id, which a lesson names
  std::string task;
  bool success = false;
  std::string text;  // the task, the outcome and critique, then one line per step
};

// A general lesson drawn from episodes (a reflection).
struct Lesson {
  std::string text;
  int importance = 1;             // 1 (a detail) to 10 (decides success)
  std::vector<int64_t> episodes;  // the ids of the episodes it came from
};

class EpisodeMemory {
 public:
  virtual ~EpisodeMemory() = default;
  // Short readable lines for a task: the lessons that bear on it first ("Lesson: ..."), then
  // similar earlier episodes.
  virtual Result<std::vector<std::string>> Retrieve(const std::string& task, const std::string& env,
                                                    int k) = 0;
  virtual Status Record(const Episode& episode) = 0;
  // The newest `n` episodes of `env` after episode `after_id`, oldest first.
  virtual Result<std::vector<PastEpisode>> Recent(const std::string& env, int64_t after_id,
                                                  int n) = 0;
  // The newest `n` lessons of `env`.
  virtual Result<std::vector<std::string>> Lessons(const std::string& env, int n) = 0;
  // Whether a lesson of `env` was drawn from an episode of one of these tasks (progress ids).
  virtual Result<bool> HasLessonsAbout(const std::string& env,
                                       const std::vector<int64_t>& task_ids) = 0;
  // Stores a lesson; kAlreadyExists when nearly the same lesson is stored already.
  virtual Result<int64_t> AddLesson(const std::string& env, const Lesson& lesson,
                                    const std::string& run_id) = 0;
};

using mcp::GlobMatch;  // the one glob of [permissions] and profiles' allow/deny lists

}  // namespace naut::agent
