#pragma once
// The skill writer: after a verified success, the model is shown the actions that worked and
// asked for one reusable Python function; the skill library validates and stores it. A skill the
// library refuses goes back to the model once with the reason (kSkillAttempts in all). A task
// that already has its skill (a resumed task) keeps it and costs no model call. Learning never
// fails the task: whatever happens is reported (event "skill": learned, verified, draft, kept,
// refused, failed, unavailable) and the name learned or kept is returned, else an empty string.
//
// Called on the agent loop's thread only; the borrowed SkillLibrary must outlive the writer.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/loop_access.h"
#include "agent/toolbox.h"

namespace naut::agent {

// The first ```python (or ```py) fenced block of `text`, if any: a skill as the model writes it,
// and the actor's code action.
std::optional<std::string> ExtractPythonBlock(const std::string& text);

// A code action written without its fence: the answer's leading lines when the first one calls
// a tool, `tool(...)`, `tools.tool(...)`, `print(tool(...))` or `tool {...}` (given its
// parentheses), for a tool in `tool_names`
// (small models often answer `game__press_inline_button({...})` as plain text). The code runs
// to the first blank line; nothing when the answer does not start with such a call.
std::optional<std::string> ExtractBareToolCode(const std::string& text,
                                               const std::vector<std::string>& tool_names);

// The actions that worked as the skill writer shows them, one per line: a call repeated in a
// row ("call(args)  # answer" lines with the same call) is one line that says how many times
// and ends with the last answer (a 1.5B model copied a fight's Attack presses line by line
// into a skill until its answer was cut off).
std::string CompactActions(const std::vector<std::string>& actions);

// `code` with each `tools.<tool>(` that lacks its server prefix completed when exactly one tool
// called in `actions` is <server>__<tool> (the 1.5B wrote tools.press_inline_button in every
// skill, for the game__press_inline_button it had just called).
std::string WithToolPrefixes(const std::string& code, const std::vector<std::string>& actions);

// `code` repaired by skills::TidySkill: a closing call of its own function dropped (the 1.5B
// ended most skills with one, which the validator refused) and, when its function has no
// docstring, `docstring` put in as one; `code` as it is when python3 cannot be run (the
// validator then says so).
std::string TidySkillCode(const std::string& code, const std::string& docstring = "");

// Why a skill as written cannot work, before the library sees it: the same line four or more
// times in a row (a loop is asked for), or `tools.<name>(` where name is neither a tool name
// (<server>__<tool>) nor one of `skill_names` (the runtime runs tools.<skill>(...) as the skill);
// that refusal names `tools_used` (the tools the successful actions called). Nothing when none
// of these.
std::optional<std::string> SkillDraftProblem(const std::string& code,
                                             const std::vector<std::string>& skill_names,
                                             const std::vector<std::string>& tools_used = {});

// `code` with each line that is a call written as `tool {json}` (no parentheses, as the 1.5B
// copied it from an observation's label) made a call: `tool({json})`, for a tool in `tool_names`.
std::string WithCallParentheses(const std::string& code,
                                const std::vector<std::string>& tool_names);

// One tool call that worked, as it was made: what a replayed skill repeats.
struct ActionCall {
  std::string tool;
  Json arguments;
};

// The most calls (a call repeated in a row counts once) a replayed skill is made of: a longer
// trace is left to the model to write as a loop.
inline constexpr size_t kMaxReplaySteps = 40;

// A skill that makes `calls` again in order, as one function `name` with `docstring`: a call
// repeated in a row becomes one `for` loop. Arguments are written as Python literals, keyword
// arguments where every key is an identifier. Nothing when there are no calls or more than
// kMaxReplaySteps steps.
std::optional<std::string> ReplaySkill(const std::string& name, const std::string& docstring,
                                       const std::vector<ActionCall>& calls);

// The words of a task: runs of ASCII letters and digits, lowercased, small words such as "a",
// "the", "from" left out.
std::vector<std::string> TaskWords(const std::string& task);

// A function name for a task: its first five TaskWords joined by '_' ("do_" before a name that
// would start with a digit or be a keyword); "do_task" when there are none.
std::string SkillNameForTask(const std::string& task);

// Whether a replayed skill, described by `description` (its docstring's first line: its task,
// then kReplayNote), may be offered for `task`: every word of its task is a word of `task`. A
// replay of "Buy a Healing Potion from the Goblin Market." spent the gold of "Buy a sword from
// the Goblin Market." on potions (the 1.5B called it there, run after run).
inline constexpr std::string_view kReplayNote = " Replays the ";
bool ReplayFitsTask(const std::string& description, const std::string& task);

// How many times the model may write a skill for one task (a refusal by the library, or a
// failed check, sends it back once with the reason).
inline constexpr int kSkillAttempts = 2;

// What running a new skill on its task showed: the environment put back to the state the task
// started in, `name()` run (its parameters' defaults are this task), the checker asked, the
// environment put back to where the agent left it.
struct SkillCheck {
  enum class State { kNotRun, kPassed, kFailed };
  State state = State::kNotRun;
  std::string note;  // why it was not run, why it failed, or what agreed
};
// Checks skill `name` whose source is `code`.
using SkillChecker = std::function<SkillCheck(const std::string& name, const std::string& code)>;

class SkillWriter {
 public:
  // `skills` may be null (--no-skills): nothing is learned, which is reported.
  // `skills_top_k`: how many similar skills are named to the model as callable.
  SkillWriter(SkillLibrary* skills, std::string env, int skills_top_k, LoopAccess access);

  // Learns a skill for `task` from `successful_actions` (calls and code that worked, in order).
  // With a `check`, a stored skill is run on the task: one that passes is marked verified, one
  // that fails is marked a draft with the failure and goes back to the model to be repaired
  // (a repair that still fails stays a draft, shown to the model as one); one the check cannot
  // run stays unverified (the event says why).
  //
  // With a check and the `calls` that worked, the writer first tries the calls themselves as a
  // skill (ReplaySkill, named for the task): kept, verified, when the check passes, which costs
  // no model call; removed again when it does not, and the model writes one as above.
  std::string Learn(const std::string& task, const std::vector<std::string>& successful_actions,
                    const SkillChecker& check = {}, const std::vector<ActionCall>& calls = {});

 private:
  // The replayed skill of Learn, verified, or nothing (the event says why).
  std::optional<std::string> LearnByReplay(const std::string& task,
                                           const std::vector<ActionCall>& calls,
                                           const SkillChecker& check);

  SkillLibrary* skills_;
  std::string env_;
  int skills_top_k_;
  LoopAccess access_;
};

}  // namespace naut::agent
