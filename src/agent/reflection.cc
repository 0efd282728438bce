#include "agent/reflection.h"

#include <algorithm>

#include "agent/compaction.h"
#include "llm/json_repair.h"

namespace naut::agent {

namespace {

// An episode's record is the task, the outcome, then its steps: enough of it to learn from,
// while 8 of them fit a small model's context.
constexpr size_t kEpisodeChars = 900;
constexpr size_t kLessonChars = 300;

Json LessonsSchema() {
  return Json::parse(R"({"type": "object", "properties": {"lessons": {"type": "array",
      "maxItems": 3, "items": {"type": "object", "properties": {"lesson": {"type": "string"},
      "importance": {"type": "integer", "minimum": 1, "maximum": 10},
      "episodes": {"type": "array", "items": {"type": "integer"}}},
      "required": ["lesson", "importance", "episodes"]}}}, "required": ["lessons"]})");
}

}  // namespace

std::optional<ReflectWhen> ParseReflectWhen(std::string_view text) {
  if (text == "off") return ReflectWhen::kOff;
  if (text == "failures") return ReflectWhen::kFailures;
  if (text == "each_task") return ReflectWhen::kEachTask;
  return std::nullopt;
}

Result<std::vector<Lesson>> ParseLessons(const std::string& answer,
                                         const std::vector<int64_t>& shown) {
  // The object itself, without a fence or words around it.
  const size_t open = answer.find('{');
  auto parsed = open == std::string::npos
                    ? Result<Json>(InvalidArgument("no JSON object"))
                    : llm::ParseJsonLenient(std::string_view(answer).substr(open));
  if (!parsed || !parsed->is_object() || !parsed->contains("lessons") ||
      !(*parsed)["lessons"].is_array()) {
    return InvalidArgument("the answer is not {\"lessons\": [...]}: " + OneLine(answer, 200));
  }
  std::vector<Lesson> out;
  for (const Json& item : (*parsed)["lessons"]) {
    if (out.size() == static_cast<size_t>(kLessonsPerReplay)) break;
    if (!item.is_object() || !item.contains("lesson") || !item["lesson"].is_string()) continue;
    Lesson l;
    l.text = OneLine(item["lesson"].get<std::string>(), kLessonChars);
    if (l.text.empty()) continue;
    const Json& importance = item.contains("importance") ? item["importance"] : Json();
    l.importance =
        importance.is_number() ? std::clamp(static_cast<int>(importance.get<double>()), 1, 10) : 1;
    if (item.contains("episodes") && item["episodes"].is_array()) {
      for (const Json& id : item["episodes"]) {
        if (!id.is_number_integer()) continue;
        const int64_t v = id.get<int64_t>();
        if (std::find(shown.begin(), shown.end(), v) != shown.end() &&
            std::find(l.episodes.begin(), l.episodes.end(), v) == l.episodes.end())
          l.episodes.push_back(v);
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

Reflector::Reflector(EpisodeMemory& memory, std::string env, std::string run_id, LoopAccess access)
    : memory_(memory),
      env_(std::move(env)),
      run_id_(std::move(run_id)),
      access_(std::move(access)) {}

Result<ReplayReport> Reflector::Replay(const std::string& why) {
  ReplayReport report;
  NAUT_ASSIGN_OR_RETURN(auto episodes, memory_.Recent(env_, last_episode_, kEpisodesPerReplay));
  if (episodes.empty()) return report;
  report.episodes = static_cast<int>(episodes.size());
  std::string shown_text;
  std::vector<int64_t> shown;
  for (const auto& e : episodes) {
    shown.push_back(e.id);
    shown_text +=
        "- #" + std::to_string(e.id) + " " + Truncate(e.text, kEpisodeChars, "episode") + "\n";
  }
  std::string known;
  if (auto lessons = memory_.Lessons(env_, 12)) {
    for (const auto& l : *lessons) known += "- " + l + "\n";
  }
  NAUT_ASSIGN_OR_RETURN(
      std::string prompt,
      access_.prompt("reflect", {{"env", env_},
                                 {"episodes", shown_text},
                                 {"lessons", known.empty() ? "(none yet)" : known}}));
  llm::ResponseFormat format;
  format.type = llm::ResponseFormat::Type::kJsonSchema;
  format.name = "lessons";
  format.schema = LessonsSchema();
  auto answer = AskForJson(access_, prompt, format);
  if (!answer) {
    access_.emit("reflection",
                 {{"status", "failed"}, {"why", why}, {"reason", answer.error().ToString()}});
    return Unavailable("the model could not be asked: " + answer.error().ToString());
  }
  // These episodes are replayed whatever the answer: a bad answer is not asked again.
  last_episode_ = episodes.back().id;
  auto lessons = ParseLessons(answer->content, shown);
  if (!lessons) {
    access_.emit("reflection",
                 {{"status", "failed"}, {"why", why}, {"reason", lessons.error().message()}});
    return lessons.error();
  }
  for (const auto& l : *lessons) {
    if (l.episodes.empty()) {
      report.dropped.push_back(l.text + ": names none of the episodes shown");
      continue;
    }
    auto added = memory_.AddLesson(env_, l, run_id_);
    if (added) {
      report.stored.push_back(l.text);
    } else {
      report.dropped.push_back(l.text + ": " + added.error().message());
    }
  }
  access_.emit("reflection", {{"status", "done"},
                              {"why", why},
                              {"episodes", report.episodes},
                              {"lessons", report.stored},
                              {"dropped", report.dropped}});
  return report;
}

}  // namespace naut::agent
