#pragma once
// The skill library: validated Python functions the agent learned, with versions, outcome
// counts and retrieval. Each skill is also an entry of kind "skill" in the memory store, so
// it is found by meaning and by words, and is mirrored as a readable file
// <skills_dir>/<name>.py (the newest version; written atomically, never read back).
//
// Versioning: adding a skill under an existing name makes version n+1 and marks version n
// superseded (kept, listed with --all, no longer retrieved). A skill whose vector is nearly
// the same as another skill's under a different name is refused as a near-duplicate unless
// the caller allows it.
//
// Threads: one thread at a time (like the MemoryStore it uses).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "memory/memory_store.h"
#include "skills/validator.h"

namespace naut::skills {

// Whether a skill version was run on the task it was learned for, from the state that task
// started in, and did it (the environment's checker agreed): kVerified; ran and did not:
// kDraft (verification_note says why); never run so (added by hand, imported, or learned where
// the environment cannot be put back to a task's start): kUnverified.
enum class Verification { kUnverified, kVerified, kDraft };
std::string_view ToString(Verification v);
std::optional<Verification> VerificationFromString(std::string_view s);

struct Skill {
  int64_t id = 0;
  std::string name;
  int version = 1;
  std::string description;  // first line of the docstring
  std::string docstring;
  std::string code;
  std::string language = "python";
  std::vector<Param> params;
  int64_t supersedes = 0;  // id of the previous version, 0 for the first
  bool superseded = false;
  std::string created;
  int64_t uses = 0, successes = 0, failures = 0;
  std::string environment;
  std::vector<std::string> tags;
  int64_t memory_id = 0;
  std::string last_error;         // of the last use that failed
  int64_t failures_in_a_row = 0;  // since the last success
  // Failed SkillStoreOptions::retire_after times in a row: kept (and listed) but no longer
  // offered to the model or served; a new version starts afresh.
  bool retired = false;
  Verification verification = Verification::kUnverified;
  std::string verification_note;  // the check's failure, or what it ran and what agreed
  // Superseded by the consolidated skill of this name (SkillStore::AddConsolidated), or by the
  // skills it was split into, "a, b" (SkillStore::AddSplit); empty else.
  std::string consolidated_into;
};

// A task a skill was checked on: the state the task started in (the environment's own
// save_state answer), the task and its milestone, and the call that did it from there. A
// consolidated skill is checked on every case of the skills it replaces.
struct SkillCase {
  int64_t id = 0;
  std::string skill;  // the skill's name
  int version = 0;    // the version that passed on it
  std::string task, milestone, environment;
  std::string call;  // e.g. "buy_item()" or "buy_item('Wooden Sword')"
  Json start_state;
  std::string created;
};

// Skills that look like they do the same thing: their descriptions are alike (cosine of the
// embedder's vectors) and so is their code (Jaccard of the words in it), each pair of the
// group scoring at least the threshold on the mean of the two.
struct SkillGroup {
  std::vector<Skill> skills;
  double similarity = 0;  // the lowest pair score within the group
};

// "name(a: int, b = 1)".
std::string SkillSignature(const Skill& k);
// The skill as the CLI's --json and the HTTP API show it (code and docstring when asked).
Json SkillToJson(const Skill& k, bool with_code);

struct NewSkill {
  std::string code;
  std::string name;  // optional; must equal the entry function's name when given
  std::string environment;
  std::vector<std::string> tags;
  bool allow_near_duplicate = false;
};

struct AddedSkill {
  Skill skill;
  std::optional<Skill> superseded;  // the version this one replaced
  bool unchanged = false;           // same code as the current version: nothing was added
};

struct SkillHit {
  Skill skill;
  double score = 0;
  float similarity = 0;
};

struct SkillStoreOptions {
  std::filesystem::path skills_dir;  // where <name>.py files are mirrored
  double near_duplicate = 0.95;      // cosine similarity at or above which a skill is a twin
  int retire_after = 3;              // failures in a row that retire a skill's version
  // How much a skill's success rate moves it in Search: the rate minus 1/2 (plus 1/2 for a
  // verified version, minus 1/2 for a draft), times this, is added to its retrieval score
  // (reciprocal-rank fusion of two rankings: 0.033 for a skill first in both, 0.029 for one tenth
  // in both), so it reorders skills about as relevant.
  double success_weight = 0.01;
};

class SkillStore {
 public:
  // Uses `memory` (which must outlive the SkillStore) for the database and retrieval;
  // migrates the "skills" schema and rewrites missing or outdated skill files.
  static Result<std::unique_ptr<SkillStore>> Open(memory::MemoryStore& memory,
                                                  SkillStoreOptions options);

  // Validates and stores a skill. Errors: kInvalidArgument with the validator's reason,
  // kAlreadyExists for a near-duplicate (naming the twin and the similarity).
  Result<AddedSkill> Add(const NewSkill& in);
  // The current version of `name`, or a given version.
  Result<Skill> Get(const std::string& name, int version = 0);
  // Current versions (and superseded ones when asked), retired ones included.
  Result<std::vector<Skill>> List(bool include_superseded = false);
  // What the model is offered: current versions that are not retired.
  Result<std::vector<Skill>> Offered();
  Result<std::vector<Skill>> Versions(const std::string& name);
  // Offered skills ranked for `text` (hybrid retrieval, then a nudge for the ones that have
  // worked and were verified: SkillStoreOptions::success_weight) with optional filters.
  Result<std::vector<SkillHit>> Search(const std::string& text, size_t top_k,
                                       const std::string& environment = "",
                                       const std::vector<std::string>& tags = {});
  // Deletes every version of `name` and its file.
  Status Remove(const std::string& name);
  // Counts one use of the current version and whether it succeeded (a failure keeps `error`,
  // and retires the version after retire_after in a row); returns the updated record.
  Result<Skill> RecordOutcome(const std::string& name, bool success, const std::string& error = "");
  // Records the check of version `version` of `name` (0: the current one); returns the record.
  Result<Skill> SetVerification(const std::string& name, int version, Verification state,
                                const std::string& note);

  // Records a case the current version of `c.skill` passed (a state larger than
  // kMaxCaseStateBytes is refused). A later case of the same task replaces the earlier.
  Status AddCase(const SkillCase& c);
  // The cases of `name` (any version), one per task, oldest first.
  Result<std::vector<SkillCase>> Cases(const std::string& name);
  static constexpr size_t kMaxCaseStateBytes = 1 << 20;

  // Offered skills of `environment` (any when empty) in groups of two or more whose every pair
  // scores at least `min_similarity` (SkillGroup); the most alike group first.
  Result<std::vector<SkillGroup>> SimilarGroups(const std::string& environment,
                                                double min_similarity);
  // Stores `in` as one skill that replaces `sources` (a source of the same name becomes its
  // previous version): it is marked verified with `note`, each other source's current version
  // is superseded with a link to it (kept, listed with --all, its file removed), and `cases`
  // (with the new calls) become its cases.
  Result<AddedSkill> AddConsolidated(NewSkill in, const std::vector<std::string>& sources,
                                     const std::string& note, const std::vector<SkillCase>& cases);
  // Offered skills of `environment` (any when empty) that passed two or more tasks of which some
  // pair is less alike than `max_task_similarity` (cosine of the tasks' texts): skills that grew
  // into several jobs, the least alike first.
  Result<std::vector<Skill>> Overgrown(const std::string& environment, double max_task_similarity);
  // Stores `parts` (each a skill and the cases it passed) as the split of `source`: each is
  // marked verified with `note`, and `source`'s current version is superseded with a link to
  // all of them ("a, b").
  Result<std::vector<AddedSkill>> AddSplit(
      const std::string& source,
      const std::vector<std::pair<NewSkill, std::vector<SkillCase>>>& parts,
      const std::string& note);

  // A portable bundle {"format": "neuronaut-skills", "version": 1, "skills": [...]} of the
  // current versions (all when `names` is empty).
  Result<Json> Export(const std::vector<std::string>& names = {});
  struct ImportReport {
    std::vector<std::string> added, unchanged;
    std::vector<std::pair<std::string, std::string>> refused;  // name, reason
  };
  // Adds every skill of a bundle through Add (validated again); bad entries are refused
  // one by one, the rest still imported.
  Result<ImportReport> Import(const Json& bundle, bool allow_near_duplicates = false);

  std::filesystem::path FileOf(const std::string& name) const {
    return options_.skills_dir / (name + ".py");
  }

 private:
  SkillStore(memory::MemoryStore& memory, SkillStoreOptions options)
      : memory_(memory), options_(std::move(options)) {}
  // `in` stored (near-duplicates allowed), marked verified with `note`, `cases` its cases.
  Result<AddedSkill> AddVerified(NewSkill in, const std::string& note,
                                 const std::vector<SkillCase>& cases);
  // Version `old` superseded by `by` (a name, or "a, b"): no longer retrieved, its file removed
  // when asked.
  Status Supersede(const Skill& old, const std::string& by, bool remove_file);
  Status WriteFile(const Skill& skill);
  Status SyncFiles();
  Result<std::vector<Skill>> Query(const std::string& where, const std::vector<std::string>& args);

  memory::MemoryStore& memory_;
  SkillStoreOptions options_;
};

// How alike two skills' code is: the Jaccard index of the sets of words in it (identifiers,
// numbers and the words of string literals; Python's keywords left out), 0 to 1.
double CodeSimilarity(const std::string& a, const std::string& b);

// Skill names are Python identifiers of at most 64 characters.
Status CheckSkillName(const std::string& name);

}  // namespace naut::skills
