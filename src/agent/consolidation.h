#pragma once
// Skill consolidation: skills that look like they do the same thing (a SkillStore::SimilarGroups
// group) are shown to the model, which writes one general, parameterised skill and, for each
// skill of the group, the call of the new one that does that skill's task. The new skill is then
// run on every task the group's skills passed on (each from the state its task started in, put
// back by a CaseRunner), and only when the checker agrees on every one does it replace the group
// (SkillStore::AddConsolidated: the old versions are kept, linked to it). A skill with no such
// task (never verified) cannot be checked and is left out of its group. An answer that fails goes
// back to the model once with what went wrong; a group still failing is refused, and the report
// says why. Nothing of a refused group changes.
//
// Splitting is the other way round: a skill that passed tasks unlike each other
// (SkillStore::Overgrown) is shown with them, and the model writes one function per job and says
// which function (and call) does which task; each is run on its tasks as above, and only when
// all pass do they replace the skill (SkillStore::AddSplit).
//
// Called on the agent loop's thread only (or once by `neuronaut skills consolidate`).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/loop_access.h"
#include "agent/skill_writer.h"
#include "skills/skill_store.h"

namespace naut::agent {

struct ConsolidationOptions {
  double min_similarity = 0.5;  // SimilarGroups' threshold
  size_t max_groups = 3;        // groups tried in one pass, the most alike first
  // A skill whose tasks include a pair less alike than this (cosine) is split; 0: never.
  double split_below = 0.3;
};

// One task of the group run with the new skill.
struct CaseCheck {
  std::string source;  // the skill the task came from
  std::string task;
  std::string call;
  SkillCheck check;
};

struct Consolidation {
  std::string kind = "merge";  // or "split": one source, `merged` the parts ("a, b")
  std::vector<std::string> sources;
  double similarity = 0;
  std::string merged;   // the new skill's name when it replaced the group
  std::string refused;  // why it did not, else empty
  std::vector<CaseCheck> checks;
};

// Runs `call`, with the skill source `code` defined, from the state task `c` started in, asks the
// checker whether the task is done, and puts the environment back.
using CaseRunner = std::function<SkillCheck(const skills::SkillCase& c, const std::string& code,
                                            const std::string& call)>;

// The `<old skill>: <call>` lines of an answer, for the names in `sources` (a line may be a list
// item or quoted in backticks; the call is kept when it calls `entry`).
std::map<std::string, std::string> ParseConsolidationCalls(const std::string& answer,
                                                           const std::vector<std::string>& sources,
                                                           const std::string& entry);

// Every ```python block of `text`, in order.
std::vector<std::string> ExtractPythonBlocks(const std::string& text);

// The `<task number>: <call>` lines of an answer for tasks 1..`tasks`, each call of one of
// `entries`.
std::map<int, std::string> ParseSplitCalls(const std::string& answer, int tasks,
                                           const std::vector<std::string>& entries);

class Consolidator {
 public:
  // `store` must outlive the Consolidator.
  Consolidator(skills::SkillStore& store, std::string env, LoopAccess access, CaseRunner run,
               ConsolidationOptions options = {});

  // The groups a pass would try (no model call).
  Result<std::vector<skills::SkillGroup>> Groups();
  // One pass: each group tried, merged or refused, then each overgrown skill split or not
  // (event "consolidation" for each).
  Result<std::vector<Consolidation>> Run();

 private:
  Consolidation Merge(const skills::SkillGroup& group);
  Consolidation Split(const skills::Skill& skill);
  // Asks the model with `prompt` (kSkillAttempts times at most): `take` reads an answer and says
  // what is wrong with it, which goes back to the model with `again` (what to write), or nothing
  // once it has settled the report. The last problem, or the model's failure, is the refusal.
  void Ask(const std::string& prompt, const std::string& again, Consolidation& report,
           const std::function<std::optional<std::string>(const std::string&)>& take);
  void Report(const Consolidation& c);
  // The new skill run on every case; empty when all passed, else what failed.
  std::string CheckAll(const std::string& code, const std::map<std::string, std::string>& calls,
                       const std::map<std::string, std::vector<skills::SkillCase>>& cases,
                       Consolidation& report);

  skills::SkillStore& store_;
  std::string env_;
  LoopAccess access_;
  CaseRunner run_;
  ConsolidationOptions options_;
};

}  // namespace naut::agent
