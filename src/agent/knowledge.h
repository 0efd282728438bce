#pragma once
// World knowledge in a knowledge-graph MCP server, optionally ([agent] knowledge_graph names
// the server): one that speaks the reference server-memory's tools (create_entities,
// create_relations, add_observations, read_graph), such as npm's
// @modelcontextprotocol/server-memory. After each task the model is shown the episode and what
// the graph already holds, and lists what the episode showed about the world (places, bots,
// monsters, prices, which button does what) as entities, observations and relations, which are
// stored; before each round the facts that share words with the task and the observation are
// read into the observation. The graph is an addition: when its server is down the agent says so
// (event "knowledge", once until it answers again) and carries on without it; episodes, lessons
// and skills are kept in the memory store whatever the graph does.
//
// Called on the agent loop's thread only.

#include <chrono>
#include <string>
#include <vector>

#include "agent/loop_access.h"
#include "agent/toolbox.h"

namespace naut::agent {

struct KgEntity {
  std::string name, type;
  std::vector<std::string> observations;
};
struct KgRelation {
  std::string from, to, type;
};
struct WorldFacts {
  std::vector<KgEntity> entities;
  std::vector<KgRelation> relations;
};

// The facts of a model's answer or of read_graph's result ({"entities": [{"name", "entityType",
// "observations"}], "relations": [{"from", "to", "relationType"}]}, read leniently: entries
// without a name, or relations to an unnamed end, are left out). An error says what was wrong.
Result<WorldFacts> ParseWorldFacts(const std::string& text);

// The facts about entities that share words with `text`, the most words first, one line per
// entity ("Goblin Market (bot): sells potions; @goblin_market_bot") and per relation between
// them, at most `max_chars`; "" when none does.
std::string RelevantFacts(const WorldFacts& graph, const std::string& text, size_t max_chars);

class KnowledgeGraph {
 public:
  // `tools` reaches the graph's server as "<server>__<tool>"; it must outlive this.
  KnowledgeGraph(ToolBox& tools, std::string server, std::string env,
                 std::chrono::milliseconds timeout, LoopAccess access);

  // Stores what the episode of `task` (its steps as text) showed about the world.
  void Learn(const std::string& task, const std::string& episode);
  // What the graph knows that bears on `text` (RelevantFacts), or "" (none, or the server down).
  std::string Recall(const std::string& text, size_t max_chars);

 private:
  Result<WorldFacts> ReadGraph();
  Result<Json> Call(const std::string& tool, const Json& arguments);
  // The server failed: said once (event and log) until it answers again.
  void Down(const std::string& what, const Status& why);

  ToolBox& tools_;
  std::string server_, env_;
  std::chrono::milliseconds timeout_;
  LoopAccess access_;
  bool down_ = false;
};

}  // namespace naut::agent
