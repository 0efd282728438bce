#include "agent/library.h"

#include <cstdio>

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
                   std::string(skills::ToString(h.skill.verification)), h.skill.verification_note});
  }
  return out;
}

Result<std::string> StoreSkillLibrary::Add(const std::string& code, const std::string& task,
                                           const std::string& env) {
  skills::NewSkill s;
  s.code = code;
  s.environment = env;
  s.tags = {TaskTag(task)};
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

Result<std::vector<std::string>> StoreEpisodeMemory::Retrieve(const std::string& task,
                                                              const std::string& env, int k) {
  memory::Query q;
  q.text = task;
  q.top_k = static_cast<size_t>(k);
  q.kind = memory::Kind::kEpisode;
  q.environment = env;
  NAUT_ASSIGN_OR_RETURN(auto hits, store_.Search(q));
  std::vector<std::string> out;
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

}  // namespace naut::agent
