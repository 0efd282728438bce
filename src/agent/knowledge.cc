#include "agent/knowledge.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "agent/compaction.h"
#include "llm/json_repair.h"

namespace naut::agent {

namespace {

constexpr size_t kFactChars = 200;      // one observation, as stored
constexpr size_t kKnownChars = 1500;    // what the graph holds, as the model is shown it
constexpr size_t kEpisodeChars = 3000;  // the episode, as the model is shown it

Json FactsSchema() {
  return Json::parse(R"({"type": "object", "properties": {
      "entities": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "entityType": {"type": "string"},
        "observations": {"type": "array", "items": {"type": "string"}}},
        "required": ["name", "entityType", "observations"]}},
      "relations": {"type": "array", "items": {"type": "object", "properties": {
        "from": {"type": "string"}, "to": {"type": "string"}, "relationType": {"type": "string"}},
        "required": ["from", "to", "relationType"]}}},
      "required": ["entities", "relations"]})");
}

std::string Text(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? OneLine(j[key].get<std::string>(), kFactChars)
                                               : std::string();
}

// Lower-case words of three letters or more.
std::set<std::string> Words(const std::string& text) {
  std::set<std::string> words;
  std::string w;
  auto flush = [&] {
    if (w.size() >= 3) words.insert(w);
    w.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  return words;
}

std::string EntityLine(const KgEntity& e) {
  std::string line = e.name + (e.type.empty() ? "" : " (" + e.type + ")");
  for (size_t i = 0; i < e.observations.size(); ++i)
    line += (i == 0 ? ": " : "; ") + e.observations[i];
  return line;
}

}  // namespace

Result<WorldFacts> ParseWorldFacts(const std::string& text) {
  const size_t open = text.find('{');
  auto parsed = open == std::string::npos
                    ? Result<Json>(InvalidArgument("no JSON object"))
                    : llm::ParseJsonLenient(std::string_view(text).substr(open));
  if (!parsed || !parsed->is_object() ||
      !(parsed->contains("entities") || parsed->contains("relations"))) {
    return InvalidArgument("the answer is not {\"entities\": [...], \"relations\": [...]}: " +
                           OneLine(text, 200));
  }
  WorldFacts facts;
  if (parsed->contains("entities") && (*parsed)["entities"].is_array()) {
    for (const Json& e : (*parsed)["entities"]) {
      if (!e.is_object()) continue;
      KgEntity entity{.name = Text(e, "name"), .type = Text(e, "entityType")};
      if (entity.name.empty()) continue;
      if (e.contains("observations") && e["observations"].is_array()) {
        for (const Json& o : e["observations"]) {
          if (o.is_string() && !o.get<std::string>().empty())
            entity.observations.push_back(OneLine(o.get<std::string>(), kFactChars));
        }
      }
      facts.entities.push_back(std::move(entity));
    }
  }
  if (parsed->contains("relations") && (*parsed)["relations"].is_array()) {
    for (const Json& r : (*parsed)["relations"]) {
      if (!r.is_object()) continue;
      KgRelation relation{
          .from = Text(r, "from"), .to = Text(r, "to"), .type = Text(r, "relationType")};
      if (relation.from.empty() || relation.to.empty() || relation.type.empty()) continue;
      facts.relations.push_back(std::move(relation));
    }
  }
  return facts;
}

std::string RelevantFacts(const WorldFacts& graph, const std::string& text, size_t max_chars) {
  const std::set<std::string> wanted = Words(text);
  std::vector<std::pair<size_t, const KgEntity*>> ranked;
  for (const auto& e : graph.entities) {
    std::string all = e.name + " " + e.type;
    for (const auto& o : e.observations) all += " " + o;
    size_t shared = 0;
    for (const auto& w : Words(all)) shared += wanted.contains(w) ? 1 : 0;
    if (shared > 0) ranked.emplace_back(shared, &e);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  std::set<std::string> shown;
  for (const auto& [shared, e] : ranked) {
    std::string line = "- " + EntityLine(*e) + "\n";
    if (out.size() + line.size() > max_chars) break;
    out += line;
    shown.insert(e->name);
  }
  for (const auto& r : graph.relations) {
    if (!shown.contains(r.from) && !shown.contains(r.to)) continue;
    std::string line = "- " + r.from + " " + r.type + " " + r.to + "\n";
    if (out.size() + line.size() > max_chars) break;
    out += line;
  }
  return out;
}

KnowledgeGraph::KnowledgeGraph(ToolBox& tools, std::string server, std::string env,
                               std::chrono::milliseconds timeout, LoopAccess access)
    : tools_(tools),
      server_(std::move(server)),
      env_(std::move(env)),
      timeout_(timeout),
      access_(std::move(access)) {}

Result<Json> KnowledgeGraph::Call(const std::string& tool, const Json& arguments) {
  NAUT_ASSIGN_OR_RETURN(ToolOutcome out,
                        tools_.CallTool(server_ + "__" + tool, arguments, timeout_, {}));
  if (out.is_error) return Unavailable(server_ + "__" + tool + ": " + OneLine(out.text, 300));
  if (out.structured) return *out.structured;
  auto parsed = llm::ParseJsonLenient(out.text);
  return parsed ? *parsed : Json(out.text);
}

void KnowledgeGraph::Down(const std::string& what, const Status& why) {
  if (down_) return;
  down_ = true;
  spdlog::warn("knowledge graph '{}' is unavailable ({}): {}; the agent carries on without it",
               server_, what, why.ToString());
  access_.emit(
      "knowledge",
      {{"status", "unavailable"}, {"server", server_}, {"reason", what + ": " + why.message()}});
}

Result<WorldFacts> KnowledgeGraph::ReadGraph() {
  NAUT_ASSIGN_OR_RETURN(Json graph, Call("read_graph", Json::object()));
  NAUT_ASSIGN_OR_RETURN(WorldFacts facts, ParseWorldFacts(DumpJson(graph)));
  if (down_) {
    down_ = false;
    access_.emit("knowledge", {{"status", "available"}, {"server", server_}});
  }
  return facts;
}

std::string KnowledgeGraph::Recall(const std::string& text, size_t max_chars) {
  auto graph = ReadGraph();
  if (!graph) {
    Down("reading the graph", graph.error());
    return "";
  }
  return RelevantFacts(*graph, text, max_chars);
}

void KnowledgeGraph::Learn(const std::string& task, const std::string& episode) {
  auto graph = ReadGraph();
  if (!graph) {
    Down("reading the graph", graph.error());
    return;
  }
  std::string known = RelevantFacts(*graph, task + "\n" + episode, kKnownChars);
  auto prompt =
      access_.prompt("knowledge", {{"env", env_},
                                   {"task", task},
                                   {"episode", Truncate(episode, kEpisodeChars, "episode")},
                                   {"known", known.empty() ? "(nothing yet)" : known}});
  if (!prompt) return;
  llm::ResponseFormat format;
  format.type = llm::ResponseFormat::Type::kJsonSchema;
  format.name = "world_facts";
  format.schema = FactsSchema();
  auto answer = AskForJson(access_, *prompt, format);
  if (!answer) {
    access_.emit("knowledge", {{"status", "failed"}, {"reason", answer.error().ToString()}});
    return;
  }
  auto facts = ParseWorldFacts(answer->content);
  if (!facts) {
    access_.emit("knowledge", {{"status", "failed"}, {"reason", facts.error().message()}});
    return;
  }
  std::set<std::string> names;
  for (const auto& e : graph->entities) names.insert(e.name);
  Json created = Json::array(), observed = Json::array();
  size_t observations = 0;
  for (const auto& e : facts->entities) {
    if (names.insert(e.name).second) {
      created.push_back({{"name", e.name},
                         {"entityType", e.type.empty() ? "thing" : e.type},
                         {"observations", e.observations}});
      observations += e.observations.size();
    } else if (!e.observations.empty()) {
      observed.push_back({{"entityName", e.name}, {"contents", e.observations}});
      observations += e.observations.size();
    }
  }
  Json relations = Json::array();
  for (const auto& r : facts->relations) {
    if (names.contains(r.from) && names.contains(r.to))
      relations.push_back({{"from", r.from}, {"to", r.to}, {"relationType", r.type}});
  }
  for (const auto& [tool, key, items] : {std::tuple{"create_entities", "entities", &created},
                                         std::tuple{"add_observations", "observations", &observed},
                                         std::tuple{"create_relations", "relations", &relations}}) {
    if (items->empty()) continue;
    if (auto done = Call(tool, Json{{key, *items}}); !done) {
      Down(std::string("storing facts with ") + tool, done.error());
      return;
    }
  }
  access_.emit("knowledge", {{"status", "stored"},
                             {"task", task},
                             {"new_entities", created.size()},
                             {"observations", observations},
                             {"relations", relations.size()}});
}

}  // namespace naut::agent
