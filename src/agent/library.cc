#include "agent/library.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "agent/compaction.h"
#include "core/hash.h"

namespace naut::agent {

std::string StoreSkillLibrary::TaskTag(const std::string& task) {
  const uint64_t h = Fnv1a64(task, kFnv1aStoredSeed);  // stable across runs, unlike std::hash
  char buf[32];
  std::snprintf(buf, sizeof buf, "task-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Result<std::vector<SkillSnippet>> StoreSkillLibrary::Retrieve(const std::string& task,
                                                              const std::string& env, int k) {
  NAUT_ASSIGN_OR_RETURN(auto hits, store_.Search(task, static_cast<size_t>(k), env));
  std::vector<SkillSnippet> out;
  out.reserve(hits.size());
  for (const auto& h : hits) {
    out.push_back({h.skill.name, h.skill.description, h.skill.code, h.similarity,
                   std::string(skills::ToString(h.skill.verification)), h.skill.verification_note,
                   IsReplay(h.skill.tags)});
  }
  return out;
}

Result<std::string> StoreSkillLibrary::Add(const std::string& code, const std::string& task,
                                           const std::string& env, SkillOrigin origin) {
  skills::NewSkill s;
  s.code = code;
  s.environment = env;
  s.tags = {TaskTag(task)};
  if (origin == SkillOrigin::kReplay) s.tags.emplace_back(kReplayTag);
  NAUT_ASSIGN_OR_RETURN(auto added, store_.Add(s));
  return added.skill.name;
}

Status StoreSkillLibrary::RecordOutcome(const std::string& name, bool success,
                                        const std::string& why) {
  return store_.RecordOutcome(name, success, "the task failed: " + why).status();
}

Status StoreSkillLibrary::SetVerification(const std::string& name, bool verified,
                                          const std::string& note) {
  return store_
      .SetVerification(
          name, 0, verified ? skills::Verification::kVerified : skills::Verification::kDraft, note)
      .status();
}

Result<std::optional<std::string>> StoreSkillLibrary::SkillForTask(const std::string& task,
                                                                   const std::string& env) {
  std::string tag = TaskTag(task);
  NAUT_ASSIGN_OR_RETURN(auto all, store_.Offered());
  for (const auto& s : all) {
    if (s.environment != env) continue;
    if (std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end())
      return std::optional<std::string>(s.name);
  }
  return std::optional<std::string>();
}

std::string WorkedExample(const std::string& text) {
  constexpr size_t kStepChars = 160;
  constexpr size_t kStepsChars = 900;
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.emplace_back(std::string_view(text).substr(start, end - start));
    start = end + 1;
  }
  std::string steps;
  for (size_t i = 2; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    std::string step = OneLine(std::string(lines[i]), kStepChars);
    if (steps.size() + step.size() > kStepsChars) break;
    steps += (steps.empty() ? "" : " | ") + step;
  }
  return steps.empty() ? "" : ". Steps: " + steps;
}

namespace {

// Hours since an ISO 8601 UTC time ("2026-12-07T05:00:00Z"); 0 when it cannot be read.
double HoursSince(const std::string& iso) {
  std::tm tm{};
  if (strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  const std::time_t then = timegm(&tm);
  return std::max(0.0, std::difftime(std::time(nullptr), then) / 3600.0);
}

// How many lessons are shown for a task, at most.
constexpr size_t kLessonsShown = 3;

}  // namespace

Result<std::vector<std::string>> StoreEpisodeMemory::Retrieve(const std::string& task,
                                                              const std::string& env, int k) {
  std::vector<std::string> out;
  {
    memory::Query lessons;
    lessons.text = task;
    lessons.top_k = 4 * kLessonsShown;
    lessons.mode = memory::SearchMode::kVector;
    lessons.kind = memory::Kind::kReflection;
    lessons.environment = env;
    NAUT_ASSIGN_OR_RETURN(auto hits, store_.Search(lessons));
    // Relevance is the cosine itself: scaled among a few candidates (as Generative Agents
    // scales), the least relevant of two would count 0 however close it was.
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& h : hits) {
      const double relevance = std::max(0.0, static_cast<double>(h.similarity));
      const double recency = std::pow(0.99, HoursSince(h.memory.created));
      ranked.emplace_back(relevance + recency + h.memory.importance / 10.0,
                          "Lesson: " + h.memory.text);
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < ranked.size() && i < kLessonsShown; ++i)
      out.push_back(std::move(ranked[i].second));
  }
  memory::Query q;
  q.text = task;
  q.top_k = static_cast<size_t>(k);
  q.kind = memory::Kind::kEpisode;
  q.environment = env;
  NAUT_ASSIGN_OR_RETURN(auto hits, store_.Search(q));
  for (const auto& h : hits) {
    const auto& m = h.memory;
    std::string line = "\"" + m.task + "\": " + m.outcome;
    if (!m.critique.empty()) line += " (" + m.critique + ")";
    if (m.outcome == "success" && h.similarity >= example_min_similarity_)
      line += WorkedExample(m.text);
    out.push_back(line);
  }
  return out;
}

Status StoreEpisodeMemory::Record(const Episode& e) {
  memory::NewMemory m;
  m.kind = memory::Kind::kEpisode;
  m.environment = e.env;
  m.task = e.task;
  m.outcome = e.success ? "success" : "failure";
  m.critique = e.critique;
  m.run_id = e.run_id;
  m.step = e.task_id;
  m.text =
      e.task + "\n" + m.outcome + (e.critique.empty() ? "" : ": " + e.critique) + "\n" + e.summary;
  return store_.Add(m).status();
}

Result<std::vector<PastEpisode>> StoreEpisodeMemory::Recent(const std::string& env,
                                                            int64_t after_id, int n) {
  NAUT_ASSIGN_OR_RETURN(auto rows,
                        store_.Recent(memory::Kind::kEpisode, env, static_cast<size_t>(n)));
  std::vector<PastEpisode> out;
  for (const auto& m : rows) {
    if (m.id <= after_id) continue;
    out.push_back({m.id, m.task, m.outcome == "success", m.text});
  }
  return out;
}

Result<std::vector<std::string>> StoreEpisodeMemory::Lessons(const std::string& env, int n) {
  NAUT_ASSIGN_OR_RETURN(auto rows,
                        store_.Recent(memory::Kind::kReflection, env, static_cast<size_t>(n)));
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& m : rows) out.push_back(m.text);
  return out;
}

Result<bool> StoreEpisodeMemory::HasLessonsAbout(const std::string& env,
                                                 const std::vector<int64_t>& task_ids) {
  // An episode's step is the task it records; a lesson's sources are episodes.
  constexpr size_t kLessonsLooked = 200;
  NAUT_ASSIGN_OR_RETURN(auto lessons,
                        store_.Recent(memory::Kind::kReflection, env, kLessonsLooked));
  for (const auto& lesson : lessons) {
    for (int64_t source : lesson.sources) {
      auto episode = store_.Get(source);
      if (!episode) continue;  // forgotten since
      if (episode->kind == memory::Kind::kEpisode &&
          std::find(task_ids.begin(), task_ids.end(), episode->step) != task_ids.end())
        return true;
    }
  }
  return false;
}

Result<int64_t> StoreEpisodeMemory::AddLesson(const std::string& env, const Lesson& lesson,
                                              const std::string& run_id) {
  memory::Query same;
  same.text = lesson.text;
  same.top_k = 1;
  same.mode = memory::SearchMode::kVector;
  same.kind = memory::Kind::kReflection;
  same.environment = env;
  NAUT_ASSIGN_OR_RETURN(auto twins, store_.Search(same));
  if (!twins.empty() && twins[0].similarity >= kSameLesson) {
    return AlreadyExists("nearly the same as lesson #" + std::to_string(twins[0].memory.id) + " (" +
                         OneLine(twins[0].memory.text, 120) + ")");
  }
  memory::NewMemory m;
  m.kind = memory::Kind::kReflection;
  m.text = lesson.text;
  m.environment = env;
  m.run_id = run_id;
  m.importance = lesson.importance;
  m.sources = lesson.episodes;
  return store_.Add(m);
}

}  // namespace naut::agent
