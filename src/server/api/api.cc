#include "server/api/api.h"

#include <spdlog/spdlog.h>
#include <sys/types.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

#include "agent/progress.h"
#include "agent/trace.h"
#include "core/home_lock.h"
#include "core/json.h"
#include "envs/registry.h"
#include "llm/endpoint_pool.h"
#include "llm/model_factory.h"
#include "llm/pool_journal.h"
#include "mcp/hub.h"
#include "memory/memory_store.h"
#include "server/guard.h"
#include "server/web/static_files.h"
#include "skills/skill_store.h"

namespace naut::server {
namespace {

using namespace std::chrono_literals;
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

void SendJson(httplib::Response& res, const Json& body, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(DumpJson(body), "application/json");
}

// An error from a store or a child process as an HTTP answer: the status its code means.
void SendStatus(httplib::Response& res, const Status& status) {
  int http = 500;
  switch (status.code()) {
    case Code::kInvalidArgument:
      http = 400;
      break;
    case Code::kNotFound:
      http = 404;
      break;
    case Code::kFailedPrecondition:
    case Code::kAlreadyExists:
      http = 409;
      break;
    case Code::kUnavailable:
      http = 503;
      break;
    default:
      break;
  }
  JsonError(res, http, status.message());
}

// A query parameter as an integer within [lo, hi]; `fallback` when absent.
Result<int> IntParam(const httplib::Request& req, const std::string& name, int fallback, int lo,
                     int hi) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument("query parameter " + name + "='" + text + "' is not a whole number");
  int v = std::stoi(text);
  if (v < lo || v > hi)
    return InvalidArgument("query parameter " + name + "=" + text + " is outside " +
                           std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

bool FlagParam(const httplib::Request& req, const std::string& name) {
  std::string v = req.get_param_value(name);
  return v == "1" || v == "true" || v == "yes";
}

Json RunJson(const agent::RunRecord& r, const std::string& status) {
  return Json{{"id", r.id},          {"env", r.env},         {"goal", r.goal},
              {"status", status},    {"started", r.started}, {"finished", r.finished},
              {"summary", r.summary}};
}

Json TaskJson(const agent::TaskRecord& t) {
  return Json{{"id", t.id},
              {"env", t.env},
              {"description", t.description},
              {"milestone", t.milestone},
              {"status", std::string(agent::TaskStatusName(t.status))},
              {"attempts", t.attempts},
              {"skill", t.skill},
              {"critique", t.critique},
              {"run_id", t.run_id},
              {"created", t.created},
              {"finished", t.finished}};
}

Json MilestoneJson(const agent::MilestoneRecord& m) {
  return Json{{"id", m.id},
              {"description", m.description},
              {"done", m.done},
              {"done_at", m.done_at},
              {"skill", m.skill}};
}

Json HitJson(const memory::Hit& h) {
  const auto& m = h.memory;
  Json j{{"id", m.id},       {"kind", std::string(memory::KindName(m.kind))},
         {"text", m.text},   {"environment", m.environment},
         {"tags", m.tags},   {"created", m.created},
         {"score", h.score}, {"similarity", h.similarity}};
  if (!m.run_id.empty()) j["run_id"] = m.run_id;
  if (!m.task.empty()) j["task"] = m.task;
  if (!m.outcome.empty()) j["outcome"] = m.outcome;
  return j;
}

// Both skill stores; the memory store must outlive the skill store.
struct Library {
  std::unique_ptr<memory::MemoryStore> memory;
  std::unique_ptr<skills::SkillStore> skills;
};

// The lines of a trace from line `from` on (at most `limit`), each parsed; unreadable lines (a
// torn last line while the agent writes) are skipped but counted.
struct TraceLines {
  std::vector<Json> events;
  size_t next = 0;  // line index after the last one read
};

TraceLines ReadTrace(const std::filesystem::path& file, size_t from, size_t limit) {
  TraceLines out;
  std::ifstream in(file);
  std::string line;
  size_t index = 0;
  while (out.events.size() < limit && std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet: the agent is still writing it
    if (index++ < from) continue;
    auto parsed = ParseJson(line, "trace line");
    out.events.push_back(parsed && parsed->is_object() ? *parsed : Json{{"type", "unreadable"}});
  }
  out.next = std::max(index, from);
  return out;
}

// What the charts draw from one run's trace: each model call (tokens, cached share, speed) and
// each milestone against the model calls it took.
Json RunMetrics(const std::filesystem::path& file) {
  Json calls = Json::array(), milestones = Json::array(), tasks = Json::array();
  int64_t n = 0;
  TraceLines lines = ReadTrace(file, 0, SIZE_MAX);
  for (const Json& e : lines.events) {
    std::string type = e.value("type", "");
    if (type == "model_call") {
      ++n;
      int64_t prompt = e.value("prompt_tokens", int64_t{0});
      int64_t cached = e.value("cached_tokens", int64_t{0});
      int64_t completion = e.value("completion_tokens", int64_t{0});
      int64_t latency = e.value("latency_ms", int64_t{0});
      calls.push_back({{"n", n},
                       {"ms", e.value("ms", int64_t{0})},
                       {"time", e.value("time", "")},
                       {"prompt_tokens", prompt},
                       {"cached_tokens", cached},
                       {"completion_tokens", completion},
                       {"latency_ms", latency},
                       {"ok", !e.contains("error")}});
    } else if (type == "milestone_reached") {
      milestones.push_back({{"milestone", e.value("milestone", "")},
                            {"model_calls", e.value("model_calls", int64_t{0})},
                            {"elapsed_s", e.value("elapsed_s", 0.0)}});
    } else if (type == "task_end") {
      tasks.push_back({{"task", e.value("task", "")},
                       {"success", e.value("success", false)},
                       {"model_calls", n}});
    }
  }
  return Json{{"model_calls", calls}, {"milestones", milestones}, {"tasks", tasks}};
}

// The first event of a run (run_start): the variant it ran (critic, curriculum, skills, ...).
Json RunVariant(const std::filesystem::path& file) {
  TraceLines first = ReadTrace(file, 0, 1);
  if (first.events.empty() || first.events[0].value("type", "") != "run_start") return nullptr;
  const Json& e = first.events[0];
  Json v = Json::object();
  for (const char* key : {"critic", "curriculum", "skills", "memories_top_k", "model"}) {
    if (e.contains(key)) v[key] = e[key];
  }
  return v;
}

}  // namespace

const std::vector<ApiRouteInfo>& ApiRoutes() {
  static const std::vector<ApiRouteInfo> routes = {
      {"GET", "/api/health"},
      {"GET", "/api/openapi.json"},
      {"GET", "/api/runs"},
      {"POST", "/api/runs"},
      {"GET", "/api/runs/{id}"},
      {"GET", "/api/runs/{id}/events"},
      {"GET", "/api/runs/{id}/stream"},
      {"GET", "/api/runs/{id}/metrics"},
      {"POST", "/api/runs/{id}/stop"},
      {"GET", "/api/metrics/milestones"},
      {"GET", "/api/progress"},
      {"GET", "/api/skills"},
      {"GET", "/api/skills/search"},
      {"GET", "/api/skills/{name}"},
      {"GET", "/api/skills/{name}/versions"},
      {"GET", "/api/memory/search"},
      {"GET", "/api/memory/stats"},
      {"GET", "/api/llm"},
      {"GET", "/api/mcp"},
  };
  return routes;
}

struct Api::Impl {
  ApiOptions options;
  DataHome home;
  RunLauncher launcher;
  std::atomic<bool> stopping{false};

  explicit Impl(ApiOptions o)
      : options(std::move(o)), home{options.config.home}, launcher(options.run_command) {}

  Result<std::unique_ptr<agent::ProgressStore>> Progress() {
    return agent::ProgressStore::Open(home.database(), home.progress_file());
  }

  Result<Library> OpenLibrary() {
    Library lib;
    NAUT_ASSIGN_OR_RETURN(lib.memory, memory::OpenMemoryStore(options.config));
    NAUT_ASSIGN_OR_RETURN(lib.skills,
                          skills::SkillStore::Open(*lib.memory, {.skills_dir = home.skills_dir()}));
    return lib;
  }

  // "running" only while a live process holds the home for this run (or it is our child
  // about to take it); a record that says running without one was interrupted.
  std::string ShownStatus(const agent::RunRecord& r, const std::optional<HomeLockHolder>& holder) {
    if (r.status != "running") return r.status;
    if ((holder && holder->run_id == r.id) || launcher.IsRunning(r.id)) return "running";
    return "interrupted";
  }

  bool IsActive(const std::string& run_id) {
    auto holder = HomeLock::Holder(home);
    return (holder && holder->run_id == run_id) || launcher.IsRunning(run_id);
  }

  // The run a path's {id} names (an id or a unique prefix), or an answer already sent.
  std::optional<agent::RunRecord> FindRun(const std::string& id, httplib::Response& res) {
    auto progress = Progress();
    if (!progress) {
      SendStatus(res, progress.error());
      return std::nullopt;
    }
    auto run = (*progress)->FindRun(id);
    if (!run) {
      SendStatus(res, run.error());
      return std::nullopt;
    }
    if (!run->has_value()) {
      JsonError(res, 404, "no run with id '" + id + "'");
      return std::nullopt;
    }
    return **run;
  }

  std::filesystem::path TraceOf(const std::string& run_id) const {
    return home.runs_dir() / run_id / "events.jsonl";
  }

  void Health(const httplib::Request&, httplib::Response& res) {
    SendJson(res, {{"status", "ok"},
                   {"home", home.root.string()},
                   {"mcp", options.mcp_path},
                   {"mcp_server", options.mcp_server},
                   {"model_server", !options.model_server.empty()},
                   {"model", options.model_server},
                   {"model_server_note", options.model_server_note}});
  }

  void Runs(const httplib::Request& req, httplib::Response& res) {
    auto limit = IntParam(req, "limit", 50, 1, 1000);
    if (!limit) return SendStatus(res, limit.error());
    auto progress = Progress();
    if (!progress) return SendStatus(res, progress.error());
    auto runs = (*progress)->Runs(*limit);
    if (!runs) return SendStatus(res, runs.error());
    auto holder = HomeLock::Holder(home);
    Json list = Json::array();
    for (const auto& r : *runs) list.push_back(RunJson(r, ShownStatus(r, holder)));
    Json active = nullptr;
    if (holder) active = {{"run_id", holder->run_id}, {"pid", holder->pid}, {"what", holder->what}};
    SendJson(res, {{"runs", list}, {"active", active}});
  }

  void Run(const httplib::Request& req, httplib::Response& res) {
    auto run = FindRun(req.matches[1], res);
    if (!run) return;
    Json body = RunJson(*run, ShownStatus(*run, HomeLock::Holder(home)));
    auto trace = agent::SummariseTrace(TraceOf(run->id));
    if (trace) {
      const auto& t = *trace;
      body["trace"] = {{"events", t.events},
                       {"tasks", t.tasks},
                       {"tasks_done", t.tasks_done},
                       {"tasks_failed", t.tasks_failed},
                       {"rounds", t.rounds},
                       {"model_calls", t.model_calls},
                       {"prompt_tokens", t.prompt_tokens},
                       {"cached_tokens", t.cached_tokens},
                       {"completion_tokens", t.completion_tokens},
                       {"model_ms", t.model_ms},
                       {"tool_calls", t.tool_calls},
                       {"tool_errors", t.tool_errors},
                       {"tool_ms", t.tool_ms},
                       {"total_ms", t.total_ms}};
    } else {
      body["trace"] = nullptr;
    }
    body["variant"] = RunVariant(TraceOf(run->id));
    SendJson(res, body);
  }

  void Events(const httplib::Request& req, httplib::Response& res) {
    auto from = IntParam(req, "from", 0, 0, 100'000'000);
    if (!from) return SendStatus(res, from.error());
    auto limit = IntParam(req, "limit", 1000, 1, 10000);
    if (!limit) return SendStatus(res, limit.error());
    auto run = FindRun(req.matches[1], res);
    if (!run) return;
    TraceLines lines =
        ReadTrace(TraceOf(run->id), static_cast<size_t>(*from), static_cast<size_t>(*limit));
    SendJson(res, {{"run_id", run->id}, {"events", lines.events}, {"next", lines.next}});
  }

  // SSE: every trace line from Last-Event-ID + 1 (or ?from=N) on, as it is written; an `end`
  // event once the run is over and its trace read to the end.
  void Stream(const httplib::Request& req, httplib::Response& res) {
    auto from = IntParam(req, "from", 0, 0, 100'000'000);
    if (!from) return SendStatus(res, from.error());
    auto run = FindRun(req.matches[1], res);
    if (!run) return;
    size_t start = static_cast<size_t>(*from);
    std::string last = req.get_header_value("Last-Event-ID");
    if (!last.empty() && last.size() < 10 &&
        last.find_first_not_of("0123456789") == std::string::npos) {
      start = std::stoull(last) + 1;
    }
    std::string run_id = run->id;
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream",
                                     [this, run_id, start](size_t, httplib::DataSink& sink) {
                                       FollowTrace(run_id, start, sink);
                                       return true;
                                     });
  }

  void FollowTrace(const std::string& run_id, size_t next, httplib::DataSink& sink) {
    auto write = [&](const std::string& text) { return sink.write(text.data(), text.size()); };
    bool ok = write("retry: 2000\n\n");
    auto last_write = std::chrono::steady_clock::now();
    auto last_active_check = std::chrono::steady_clock::time_point{};
    bool active = true;
    while (ok && !stopping) {
      TraceLines lines = ReadTrace(TraceOf(run_id), next, 500);
      bool ended = false;
      for (const Json& e : lines.events) {
        std::string type = e.value("type", "message");
        ok = ok && write("id: " + std::to_string(next) + "\nevent: " + type +
                         "\ndata: " + DumpJson(e) + "\n\n");
        ++next;
        ended = ended || type == "run_end";
      }
      if (!ok) break;
      auto now = std::chrono::steady_clock::now();
      if (!lines.events.empty()) last_write = now;
      if (lines.events.empty()) {
        if (now - last_active_check > 1s) {
          // Checked before the next read, so the lines written before the run ended are sent.
          bool was_active = active;
          active = IsActive(run_id);
          last_active_check = now;
          if (!was_active && !active) ended = true;
        }
        if (now - last_write > 10s) {
          ok = write(": keep-alive\n\n");
          last_write = now;
        }
      }
      if (ended) {
        write("event: end\ndata: {\"run_id\": \"" + run_id + "\"}\n\n");
        break;
      }
      if (!sink.is_writable()) break;
      if (lines.events.empty()) std::this_thread::sleep_for(200ms);
    }
    sink.done();
  }

  void Metrics(const httplib::Request& req, httplib::Response& res) {
    auto run = FindRun(req.matches[1], res);
    if (!run) return;
    Json body = RunMetrics(TraceOf(run->id));
    body["run_id"] = run->id;
    SendJson(res, body);
  }

  // Milestones against model calls for the latest runs, each with its variant.
  void MilestoneMetrics(const httplib::Request& req, httplib::Response& res) {
    auto limit = IntParam(req, "limit", 20, 1, 200);
    if (!limit) return SendStatus(res, limit.error());
    auto progress = Progress();
    if (!progress) return SendStatus(res, progress.error());
    auto runs = (*progress)->Runs(*limit);
    if (!runs) return SendStatus(res, runs.error());
    Json out = Json::array();
    for (const auto& r : *runs) {
      Json m = RunMetrics(TraceOf(r.id));
      out.push_back({{"run_id", r.id},
                     {"env", r.env},
                     {"started", r.started},
                     {"variant", RunVariant(TraceOf(r.id))},
                     {"model_calls", m["model_calls"].size()},
                     {"milestones", m["milestones"]}});
    }
    SendJson(res, {{"runs", out}});
  }

  void StartRun(const httplib::Request& req, httplib::Response& res) {
    auto body = ParseJson(req.body.empty() ? "{}" : req.body, "request body");
    if (!body) return JsonError(res, 400, body.error().message());
    if (!body->is_object()) return JsonError(res, 400, "request body: expected a JSON object");
    RunRequest r;
    for (const auto& [key, value] : body->items()) {
      if (key == "env" || key == "goal") {
        if (!value.is_string())
          return JsonError(res, 400, "request body: '" + key + "' must be a string");
        (key == "env" ? r.env : r.goal) = value.get<std::string>();
      } else if (key == "max_tasks" || key == "max_minutes") {
        if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
            value.get<int64_t>() > 1'000'000)
          return JsonError(res, 400,
                           "request body: '" + key + "' must be a whole number from 0 to 1000000");
        (key == "max_tasks" ? r.max_tasks : r.max_minutes) = value.get<int>();
      } else if (key == "fresh") {
        if (!value.is_boolean())
          return JsonError(res, 400, "request body: 'fresh' must be true or false");
        r.fresh = value.get<bool>();
      } else {
        return JsonError(res, 400,
                         "request body: unknown field '" + key +
                             "' (known: env, goal, max_tasks, max_minutes, fresh)");
      }
    }
    if (r.goal.size() > 4000) return JsonError(res, 400, "request body: 'goal' is over 4000 bytes");
    if (r.env.size() > 256 || r.env.find('\n') != std::string::npos)
      return JsonError(res, 400, "request body: 'env' is not an environment name or file");
    if (auto holder = HomeLock::Holder(home)) {
      return JsonError(res, 409,
                       "run " + holder->run_id + " (pid " + std::to_string(holder->pid) + ", " +
                           holder->what + ") is active on this data home; stop it first");
    }
    auto launched = launcher.Start(r);
    if (!launched) return SendStatus(res, launched.error());
    SendJson(res, {{"run_id", launched->run_id}, {"pid", launched->pid}}, 202);
  }

  void StopRun(const httplib::Request& req, httplib::Response& res) {
    auto run = FindRun(req.matches[1], res);
    if (!run) return;
    if (launcher.Stop(run->id)) {
      SendJson(res, {{"run_id", run->id}, {"stopping", true}}, 202);
      return;
    }
    // A run started elsewhere (a terminal, the service): its process holds the home's lock.
    auto holder = HomeLock::Holder(home);
    if (holder && holder->run_id == run->id && holder->pid > 0) {
      if (::kill(holder->pid, SIGTERM) != 0)
        return JsonError(res, 403, "cannot signal pid " + std::to_string(holder->pid));
      SendJson(res, {{"run_id", run->id}, {"stopping", true}}, 202);
      return;
    }
    JsonError(res, 409, "run " + run->id + " is not running");
  }

  void Progress(const httplib::Request& req, httplib::Response& res) {
    std::string env = req.has_param("env") ? req.get_param_value("env") : options.config.agent.env;
    auto progress = Progress();
    if (!progress) return SendStatus(res, progress.error());
    auto milestones = (*progress)->Milestones(env);
    if (!milestones) return SendStatus(res, milestones.error());
    auto tasks = (*progress)->Tasks(env);
    if (!tasks) return SendStatus(res, tasks.error());
    Json m = Json::array(), t = Json::array();
    for (const auto& x : *milestones) m.push_back(MilestoneJson(x));
    for (const auto& x : *tasks) t.push_back(TaskJson(x));
    SendJson(res, {{"env", env}, {"milestones", m}, {"tasks", t}});
  }

  void Skills(const httplib::Request& req, httplib::Response& res) {
    auto lib = OpenLibrary();
    if (!lib) return SendStatus(res, lib.error());
    auto list = lib->skills->List(FlagParam(req, "all"));
    if (!list) return SendStatus(res, list.error());
    Json out = Json::array();
    for (const auto& k : *list) out.push_back(skills::SkillToJson(k, false));
    SendJson(res, {{"skills", out}});
  }

  void SearchSkills(const httplib::Request& req, httplib::Response& res) {
    std::string q = req.get_param_value("q");
    if (q.empty()) return JsonError(res, 400, "query parameter q (what to search for) is required");
    auto k = IntParam(req, "k", 5, 1, 50);
    if (!k) return SendStatus(res, k.error());
    auto lib = OpenLibrary();
    if (!lib) return SendStatus(res, lib.error());
    auto hits = lib->skills->Search(q, static_cast<size_t>(*k), req.get_param_value("env"));
    if (!hits) return SendStatus(res, hits.error());
    Json out = Json::array();
    for (const auto& h : *hits) {
      Json j = skills::SkillToJson(h.skill, false);
      j["score"] = h.score;
      j["similarity"] = h.similarity;
      out.push_back(j);
    }
    SendJson(res, {{"hits", out}});
  }

  void Skill(const httplib::Request& req, httplib::Response& res) {
    auto version = IntParam(req, "version", 0, 0, 1'000'000);
    if (!version) return SendStatus(res, version.error());
    std::string name = req.matches[1];
    if (Status s = skills::CheckSkillName(name); !s.ok()) return JsonError(res, 400, s.message());
    auto lib = OpenLibrary();
    if (!lib) return SendStatus(res, lib.error());
    auto k = lib->skills->Get(name, *version);
    if (!k) return SendStatus(res, k.error());
    SendJson(res, skills::SkillToJson(*k, true));
  }

  void SkillVersions(const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    if (Status s = skills::CheckSkillName(name); !s.ok()) return JsonError(res, 400, s.message());
    auto lib = OpenLibrary();
    if (!lib) return SendStatus(res, lib.error());
    auto versions = lib->skills->Versions(name);
    if (!versions) return SendStatus(res, versions.error());
    if (versions->empty()) return JsonError(res, 404, "no skill named '" + name + "'");
    Json out = Json::array();
    for (const auto& k : *versions) out.push_back(skills::SkillToJson(k, true));
    SendJson(res, {{"name", name}, {"versions", out}});
  }

  void SearchMemory(const httplib::Request& req, httplib::Response& res) {
    std::string q = req.get_param_value("q");
    if (q.empty()) return JsonError(res, 400, "query parameter q (what to search for) is required");
    auto k = IntParam(req, "k", 10, 1, 100);
    if (!k) return SendStatus(res, k.error());
    memory::Query query{
        .text = q, .top_k = static_cast<size_t>(*k), .environment = req.get_param_value("env")};
    std::string kind = req.get_param_value("kind");
    if (!kind.empty() && kind != "any") {
      auto parsed = memory::ParseKind(kind);
      if (!parsed) return JsonError(res, 400, parsed.error().message());
      query.kind = *parsed;
    }
    auto store = memory::OpenMemoryStore(options.config);
    if (!store) return SendStatus(res, store.error());
    auto hits = (*store)->Search(query);
    if (!hits) return SendStatus(res, hits.error());
    Json out = Json::array();
    for (const auto& h : *hits) out.push_back(HitJson(h));
    SendJson(res, {{"hits", out}});
  }

  void MemoryStats(const httplib::Request&, httplib::Response& res) {
    auto store = memory::OpenMemoryStore(options.config);
    if (!store) return SendStatus(res, store.error());
    auto st = (*store)->GetStats();
    if (!st) return SendStatus(res, st.error());
    Json by_kind = Json::object();
    for (const auto& [kind, n] : st->by_kind) by_kind[kind] = n;
    auto mismatch = (*store)->EmbedderMismatch();
    SendJson(res, {{"items", st->items},
                   {"by_kind", by_kind},
                   {"embedder", st->embedder},
                   {"stored_embedders", st->stored_embedders},
                   {"indexed", st->indexed},
                   {"embedder_check", mismatch ? *mismatch : mismatch.error().message()}});
  }

  // The newest run's share of prompt tokens the model server had cached.
  Json CachedShare() {
    auto progress = Progress();
    if (!progress) return nullptr;
    auto runs = (*progress)->Runs(10);
    if (!runs) return nullptr;
    for (const auto& r : *runs) {
      auto t = agent::SummariseTrace(TraceOf(r.id));
      if (!t || t->model_calls == 0) continue;
      return {{"run_id", r.id},
              {"prompt_tokens", t->prompt_tokens},
              {"cached_tokens", t->cached_tokens},
              {"share", t->prompt_tokens > 0 ? static_cast<double>(t->cached_tokens) /
                                                   static_cast<double>(t->prompt_tokens)
                                             : 0.0}};
    }
    return nullptr;
  }

  void Llm(const httplib::Request&, httplib::Response& res) {
    const auto& llm = options.config.llm;
    Json endpoints = Json::array();
    std::string note;
    if (llm.backend == "openai") {
      llm::PoolOptions pool_options;
      pool_options.endpoints = llm::EndpointsFromConfig(llm);
      pool_options.health_interval = 0ms;
      llm::EndpointPool pool(pool_options);
      for (const auto& s : pool.Status(/*probe=*/true)) {
        endpoints.push_back({{"url", s.url},
                             {"state", s.state},
                             {"model", s.model},
                             {"context_size", s.context_size},
                             {"slots", s.slots},
                             {"busy", s.server_busy},
                             {"last_error", s.last_error}});
      }
    } else if (llm.backend == "embedded") {
      note = "the agent runs the model in its own process (no server to probe)";
    } else {
      note = "neuronaut starts llama-server itself when the agent runs";
    }
    Json events = Json::array();
    auto journal = llm::ReadPoolJournal(home.logs_dir() / llm::kPoolJournalName, 20);
    if (journal) {
      for (const auto& e : *journal) {
        events.push_back({{"time", e.time},
                          {"pid", e.pid},
                          {"endpoint", e.endpoint},
                          {"event", e.event},
                          {"detail", e.detail}});
      }
    }
    SendJson(res, {{"backend", llm.backend},
                   {"model", llm.model},
                   {"note", note},
                   {"endpoints", endpoints},
                   {"events", events},
                   {"cached_share", CachedShare()},
                   {"model_server",
                    {{"served", !options.model_server.empty()},
                     {"path", "/v1"},
                     {"model", options.model_server},
                     {"note", options.model_server_note}}}});
  }

  void Mcp(const httplib::Request& req, httplib::Response& res) {
    envs::ResolvedServers resolved = envs::ResolveServers(options.config);
    bool probe = FlagParam(req, "probe");
    Json servers = Json::array();
    std::unique_ptr<mcp::ClientManager> hub;
    if (probe) {
      hub = std::make_unique<mcp::ClientManager>(resolved.servers,
                                                 mcp::HubOptionsFrom(options.config));
      hub->ConnectAll();
    }
    for (const auto& s : resolved.servers) {
      Json j{{"name", s.name},
             {"target", s.is_http() ? s.url : s.command},
             {"state", s.disabled ? "disabled" : "not started"},
             {"detail", ""},
             {"tools", nullptr}};
      if (hub) {
        for (const auto& st : hub->Statuses()) {
          if (st.name != s.name) continue;
          j["state"] = std::string(mcp::ServerStateName(st.state));
          j["detail"] = st.detail;
          if (st.state == mcp::ServerState::kConnected) {
            auto tools = hub->ListTools(s.name);
            if (tools) {
              Json names = Json::array();
              for (const auto& t : *tools)
                names.push_back({{"name", t.name}, {"description", t.description}});
              j["tools"] = names;
            }
          }
        }
      }
      servers.push_back(j);
    }
    SendJson(res, {{"servers", servers},
                   {"probed", probe},
                   {"endpoint", {{"path", options.mcp_path}, {"server", options.mcp_server}}}});
  }
};

Api::Api(ApiOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Api::~Api() { Stop(); }

void Api::Stop() { impl_->stopping = true; }

void Api::Mount(httplib::Server& http) {
  Impl* a = impl_.get();
  // Each documented path, as the regex httplib matches it ({x} is one path segment).
  auto regex_of = [](std::string_view path) {
    return std::regex_replace(std::string(path), std::regex(R"(\{[a-z_]+\})"), "([^/]+)");
  };
  using Method = void (Impl::*)(const httplib::Request&, httplib::Response&);
  const std::vector<std::pair<std::string_view, Method>> handlers = {
      {"GET /api/health", &Impl::Health},
      {"GET /api/openapi.json", nullptr},
      {"GET /api/runs", &Impl::Runs},
      {"POST /api/runs", &Impl::StartRun},
      {"GET /api/runs/{id}", &Impl::Run},
      {"GET /api/runs/{id}/events", &Impl::Events},
      {"GET /api/runs/{id}/stream", &Impl::Stream},
      {"GET /api/runs/{id}/metrics", &Impl::Metrics},
      {"POST /api/runs/{id}/stop", &Impl::StopRun},
      {"GET /api/metrics/milestones", &Impl::MilestoneMetrics},
      {"GET /api/progress", &Impl::Progress},
      {"GET /api/skills", &Impl::Skills},
      {"GET /api/skills/search", &Impl::SearchSkills},
      {"GET /api/skills/{name}", &Impl::Skill},
      {"GET /api/skills/{name}/versions", &Impl::SkillVersions},
      {"GET /api/memory/search", &Impl::SearchMemory},
      {"GET /api/memory/stats", &Impl::MemoryStats},
      {"GET /api/llm", &Impl::Llm},
      {"GET /api/mcp", &Impl::Mcp},
  };
  for (const auto& route : ApiRoutes()) {
    std::string key = std::string(route.method) + " " + std::string(route.path);
    auto it = std::find_if(handlers.begin(), handlers.end(),
                           [&](const auto& h) { return h.first == key; });
    Method method = it == handlers.end() ? nullptr : it->second;
    httplib::Server::Handler handler;
    if (route.path == "/api/openapi.json") {
      handler = [](const httplib::Request&, httplib::Response& res) {
        std::string_view doc = OpenApiDocument();
        res.set_content(doc.data(), doc.size(), "application/json");
      };
    } else if (method != nullptr) {
      handler = [a, method](const httplib::Request& req, httplib::Response& res) {
        (a->*method)(req, res);
      };
    } else {
      spdlog::error("serve: no handler for {}", key);
      continue;
    }
    std::string pattern = regex_of(route.path);
    if (route.method == "GET") {
      http.Get(pattern, handler);
    } else {
      http.Post(pattern, handler);
    }
  }
}

}  // namespace naut::server
