#pragma once
// The agent's SkillLibrary and EpisodeMemory over the skills and memory modules.
//
// A learned skill is tagged with the task it was learned for ("task-<hash>"), so a task that
// is resumed after a kill finds its skill instead of learning it a second time.
// Threads: the agent's thread only (like the stores underneath).

#include "agent/toolbox.h"
#include "memory/memory_store.h"
#include "skills/skill_store.h"

namespace naut::agent {

class StoreSkillLibrary : public SkillLibrary {
 public:
  explicit StoreSkillLibrary(skills::SkillStore& store) : store_(store) {}
  Result<std::vector<SkillSnippet>> Retrieve(const std::string& task, const std::string& env,
                                             int k) override;
  Result<std::string> Add(const std::string& code, const std::string& task, const std::string& env,
                          SkillOrigin origin) override;
  Status RecordOutcome(const std::string& name, bool success, const std::string& why) override;
  Status SetVerification(const std::string& name, bool verified, const std::string& note) override;
  Result<std::optional<std::string>> SkillForTask(const std::string& task,
                                                  const std::string& env) override;
  skills::SkillStore* Store() override { return &store_; }

  static std::string TaskTag(const std::string& task);

 private:
  skills::SkillStore& store_;
};

// The steps of a successful episode, as a worked example for a later task: ". Steps: a | b"
// from an episode record's text (the task, the outcome, then one line per step), each step and
// the whole kept short; "" when it has no steps.
std::string WorkedExample(const std::string& episode_text);

// Episodes as the actor is shown them: "task": outcome (critique), and for a success at least
// `example_min_similarity` like the task (cosine) its steps. Unlike tasks get no steps: a real
// run copied the /start of "Send /start to the game bot." into a fight, press after press.
// Before them come the lessons (reflections) that bear on the task, "Lesson: ...", ranked as
// Generative Agents ranks memories: relevance (the cosine, 0 when negative) plus recency
// (0.99 per hour since it was drawn) plus importance / 10.
class StoreEpisodeMemory : public EpisodeMemory {
 public:
  explicit StoreEpisodeMemory(memory::MemoryStore& store, double example_min_similarity = 0.3)
      : store_(store), example_min_similarity_(example_min_similarity) {}
  Result<std::vector<std::string>> Retrieve(const std::string& task, const std::string& env,
                                            int k) override;
  Status Record(const Episode& episode) override;
  Result<std::vector<PastEpisode>> Recent(const std::string& env, int64_t after_id, int n) override;
  Result<std::vector<std::string>> Lessons(const std::string& env, int n) override;
  Result<bool> HasLessonsAbout(const std::string& env,
                               const std::vector<int64_t>& task_ids) override;
  Result<int64_t> AddLesson(const std::string& env, const Lesson& lesson,
                            const std::string& run_id) override;

  // A lesson at least this like a stored one (cosine) is the same lesson.
  static constexpr double kSameLesson = 0.9;

 private:
  memory::MemoryStore& store_;
  double example_min_similarity_;
};

}  // namespace naut::agent
