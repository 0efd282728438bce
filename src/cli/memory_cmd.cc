// neuronaut memory add|search|reflect|reindex|status: the agent's memories from the command
// line.

#include <iostream>
#include <memory>

#include "agent/library.h"
#include "agent/prompts.h"
#include "agent/reflection.h"
#include "cli/context.h"
#include "core/data_home.h"
#include "core/json.h"
#include "llm/model_factory.h"
#include "llm/pool_journal.h"
#include "memory/memory_store.h"

namespace naut::cli {

namespace {

struct MemoryArgs {
  std::string text, kind = "fact", env, task, outcome, critique, run_id, mode = "hybrid";
  std::vector<std::string> tags;
  int64_t step = -1;
  size_t top_k = 5;
  bool json = false;
};

Result<std::unique_ptr<memory::MemoryStore>> OpenStore(Context& ctx) {
  NAUT_ASSIGN_OR_RETURN(Config config, ctx.LoadConfig());
  return memory::OpenMemoryStore(config);
}

Json HitJson(const memory::Hit& h) {
  const auto& m = h.memory;
  Json j{{"id", m.id},
         {"kind", memory::KindName(m.kind)},
         {"text", m.text},
         {"environment", m.environment},
         {"tags", m.tags},
         {"created", m.created},
         {"score", h.score},
         {"similarity", h.similarity},
         {"vector_rank", h.vector_rank},
         {"text_rank", h.text_rank}};
  if (!m.ref.empty()) j["ref"] = m.ref;
  if (!m.run_id.empty()) j["run_id"] = m.run_id;
  if (m.step >= 0) j["step"] = m.step;
  if (m.importance > 0) j["importance"] = m.importance;
  if (!m.sources.empty()) j["sources"] = m.sources;
  return j;
}

int Add(Context& ctx, const MemoryArgs& a) {
  auto kind = memory::ParseKind(a.kind);
  if (!kind) return Fail(kind.error());
  auto store = OpenStore(ctx);
  if (!store) return Fail(store.error());
  memory::NewMemory m;
  m.kind = *kind;
  m.text = a.text;
  m.environment = a.env;
  m.tags = a.tags;
  m.task = a.task;
  m.outcome = a.outcome;
  m.critique = a.critique;
  m.run_id = a.run_id;
  m.step = a.step;
  auto id = (*store)->Add(m);
  if (!id) return Fail(id.error());
  std::cout << *id << "\n";
  return kExitOk;
}

int Search(Context& ctx, const MemoryArgs& a) {
  memory::Query q{.text = a.text, .top_k = a.top_k, .environment = a.env, .tags = a.tags};
  if (a.mode == "vector") q.mode = memory::SearchMode::kVector;
  if (a.mode == "text") q.mode = memory::SearchMode::kText;
  if (a.kind != "any") {
    auto kind = memory::ParseKind(a.kind);
    if (!kind) return Fail(kind.error());
    q.kind = *kind;
  }
  auto store = OpenStore(ctx);
  if (!store) return Fail(store.error());
  auto hits = (*store)->Search(q);
  if (!hits) return Fail(hits.error());
  if (a.json) {
    Json out = Json::array();
    for (const auto& h : *hits) out.push_back(HitJson(h));
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  if (hits->empty()) std::cout << "no memories match\n";
  for (const auto& h : *hits) {
    const auto& m = h.memory;
    std::cout << "#" << m.id << " [" << memory::KindName(m.kind)
              << (m.environment.empty() ? "" : " " + m.environment) << "] score "
              << std::to_string(h.score).substr(0, 6) << " (vector #" << h.vector_rank
              << ", words #" << h.text_rank << ")"
              << (m.importance > 0 ? " importance " + std::to_string(m.importance) : "");
    if (!m.sources.empty()) {
      std::cout << " from";
      for (int64_t id : m.sources) std::cout << " #" << id;
    }
    std::cout << "\n";
    std::string text = m.text.size() > 300 ? m.text.substr(0, 300) + "..." : m.text;
    std::cout << "  " << text << "\n";
  }
  return kExitOk;
}

// One replay of the newest episodes of an environment with the configured model, as the agent
// does after a failed task: the lessons stored and the ones dropped, with why.
int Reflect(Context& ctx, const MemoryArgs& a) {
  auto config = ctx.LoadConfig();
  if (!config) return Fail(config.error());
  auto home = OpenDataHome(config->home);
  if (!home) return Fail(home.error());
  auto store = memory::OpenMemoryStore(*config);
  if (!store) return Fail(store.error());
  auto model = llm::MakeChatModel(config->llm, home->logs_dir() / llm::kPoolJournalName);
  if (!model) return Fail(model.error());
  agent::StoreEpisodeMemory episodes(**store);
  agent::LoopAccess access;
  access.ask_model = [&](std::vector<llm::Message> messages, const llm::ResponseFormat& format) {
    llm::ChatRequest request;
    request.messages = std::move(messages);
    request.response_format = format;
    request.sampling.temperature = config->agent.temperature;
    return (*model)->Chat(request, {});
  };
  access.prompt = [&](const std::string& name,
                      const std::map<std::string, std::string>& values) -> Result<std::string> {
    NAUT_ASSIGN_OR_RETURN(std::string text, agent::LoadPrompt(name, home->root / "prompts"));
    return agent::RenderPrompt(text, values);
  };
  access.observe = [] { return std::string(); };
  access.emit = [](const std::string&, const Json&) {};
  const std::string env = a.env.empty() ? config->agent.env : a.env;
  agent::Reflector reflector(episodes, env, "memory-reflect", access);
  auto report = reflector.Replay("on demand");
  if (!report) return Fail(report.error());
  if (a.json) {
    std::cout << DumpJson(Json{{"environment", env},
                               {"episodes", report->episodes},
                               {"stored", report->stored},
                               {"dropped", report->dropped}},
                          2)
              << "\n";
    return kExitOk;
  }
  if (report->episodes == 0) {
    std::cout << "no episodes of " << env << " to replay\n";
    return kExitOk;
  }
  std::cout << "replayed " << report->episodes << " episodes of " << env << "; "
            << report->stored.size() << " new lessons\n";
  for (const auto& l : report->stored) std::cout << "  + " << l << "\n";
  for (const auto& d : report->dropped) std::cout << "  - dropped: " << d << "\n";
  return kExitOk;
}

int Reindex(Context& ctx) {
  auto store = OpenStore(ctx);
  if (!store) return Fail(store.error());
  Status s = (*store)->Reindex([](int64_t done, int64_t total) {
    std::cerr << "\rre-embedded " << done << " / " << total << std::flush;
  });
  std::cerr << "\n";
  if (!s.ok()) return Fail(s);
  auto st = (*store)->GetStats();
  if (!st) return Fail(st.error());
  std::cout << "reindexed " << st->items << " memories with " << st->embedder << "\n";
  return kExitOk;
}

int StatusCmd(Context& ctx) {
  auto store = OpenStore(ctx);
  if (!store) return Fail(store.error());
  auto mismatch = (*store)->EmbedderMismatch();
  Status ready = mismatch && mismatch->empty() ? (*store)->Index().status() : Status::Ok();
  auto st = (*store)->GetStats();
  if (!st) return Fail(st.error());
  std::cout << "memories: " << st->items << "\n";
  for (const auto& [kind, n] : st->by_kind) std::cout << "  " << kind << ": " << n << "\n";
  std::cout << "embedder: " << st->embedder << "\n";
  std::cout << "stored vectors: " << (st->stored_embedders.empty() ? "none" : st->stored_embedders)
            << "\n";
  if (!mismatch) {
    std::cout << "embedder check: " << mismatch.error().message() << "\n";
  } else if (!mismatch->empty()) {
    std::cout << "embedder check: " << *mismatch << "\n";
  } else if (!ready.ok()) {
    std::cout << "index: " << ready.message() << "\n";
  } else {
    std::cout << "index: " << st->indexed << " vectors at " << (*store)->index_path().string()
              << (st->index_rebuilt ? " (rebuilt now: " + st->index_note + ")" : "") << "\n";
  }
  std::cout << "vector store: " << st->vector_store << "\n";
  return kExitOk;
}

}  // namespace

void AddMemoryCommands(CLI::App& app, Context& ctx) {
  auto* mem =
      app.add_subcommand("memory", "Search and add memories (episodes, facts, reflections)");
  mem->require_subcommand(1);
  auto args = std::make_shared<MemoryArgs>();

  auto* add = mem->add_subcommand("add", "Store a memory and print its id");
  add->add_option("text", args->text,
                  "What to remember (empty for an episode: made from --task/--outcome)");
  add->add_option("--kind", args->kind, "episode | fact | reflection")->capture_default_str();
  add->add_option("--env", args->env, "Environment it belongs to (e.g. rpg)");
  add->add_option("--tag", args->tags, "Tag (repeatable)");
  add->add_option("--task", args->task, "Episode: the task");
  add->add_option("--outcome", args->outcome, "Episode: success, failure, ...");
  add->add_option("--critique", args->critique, "Episode: what the critic said");
  add->add_option("--run", args->run_id, "Episode: run id");
  add->add_option("--step", args->step, "Episode: step number");
  add->callback([&ctx, args] { ctx.exit_code = Add(ctx, *args); });

  auto* search = mem->add_subcommand("search", "Find memories by meaning and words (hybrid)");
  search->add_option("query", args->text, "What to look for")->required();
  search->add_option("-k,--top-k", args->top_k, "How many results")->capture_default_str();
  search->add_option("--kind", args->kind, "episode | fact | reflection | skill | any")
      ->default_str("any");
  search->add_option("--env", args->env, "Only this environment");
  search->add_option("--tag", args->tags, "Only memories with this tag (repeatable)");
  search->add_option("--mode", args->mode, "hybrid | vector | text")
      ->check(CLI::IsMember({"hybrid", "vector", "text"}))
      ->capture_default_str();
  search->add_flag("--json", args->json, "Print JSON");
  search->preparse_callback([args](size_t) { args->kind = "any"; });
  search->callback([&ctx, args] { ctx.exit_code = Search(ctx, *args); });

  auto* reflect = mem->add_subcommand(
      "reflect", "Replay the newest episodes with the model and store the lessons drawn");
  reflect->add_option("--env", args->env, "The environment (default: [agent] env)");
  reflect->add_flag("--json", args->json, "Print JSON");
  reflect->callback([&ctx, args] { ctx.exit_code = Reflect(ctx, *args); });

  mem->add_subcommand("reindex",
                      "Re-embed every memory with the configured embedder and rebuild the index")
      ->callback([&ctx] { ctx.exit_code = Reindex(ctx); });
  mem->add_subcommand("status", "Counts, embedder, and the state of the vector index")
      ->callback([&ctx] { ctx.exit_code = StatusCmd(ctx); });
}

}  // namespace naut::cli
