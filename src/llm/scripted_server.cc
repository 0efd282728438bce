#include "llm/scripted_server.h"

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/mutex.h"

namespace naut::llm {

namespace {

struct ScriptedCall {
  std::string id, name;
  Json arguments;  // object or string
};

struct ScriptedResponse {
  std::optional<std::string> match;
  std::string content, reasoning;
  std::vector<ScriptedCall> tool_calls;
  std::string finish_reason;
  std::optional<bool> stream;
  size_t chunk_size = 8;
  int delay_ms = 0, chunk_delay_ms = 0;
  int cut_after_chunks = -1;
  std::optional<Json> stream_error;
  int status = 200;
  std::string error, error_type;
  std::map<std::string, std::string> headers;
  std::optional<std::string> raw_body;
  std::optional<Json> usage;
  std::optional<Json> timings;  // llama-server's `timings`, sent as given
};

Result<ScriptedResponse> ParseResponse(const Json& j, const std::string& where) {
  if (!j.is_object()) return InvalidArgument(where + " must be an object");
  ScriptedResponse r;
  static const char* kKeys[] = {"match",          "content",          "reasoning",    "tool_calls",
                                "finish_reason",  "stream",           "chunk_size",   "delay_ms",
                                "chunk_delay_ms", "cut_after_chunks", "stream_error", "status",
                                "error",          "error_type",       "headers",      "raw_body",
                                "usage",          "timings",          "comment"};
  for (const auto& [k, v] : j.items()) {
    bool known = false;
    for (const char* key : kKeys) known = known || k == key;
    if (!known) return InvalidArgument(where + ": unknown key '" + k + "'");
  }
  auto str = [&](const char* key, std::string& out) -> Status {
    if (!j.contains(key)) return Status::Ok();
    if (!j[key].is_string()) return InvalidArgument(where + "." + key + " must be a string");
    out = j[key].get<std::string>();
    return Status::Ok();
  };
  auto num = [&](const char* key, int& out) -> Status {
    if (!j.contains(key)) return Status::Ok();
    if (!j[key].is_number_integer())
      return InvalidArgument(where + "." + key + " must be an integer");
    out = j[key].get<int>();
    return Status::Ok();
  };
  if (j.contains("match")) {
    if (!j["match"].is_string()) return InvalidArgument(where + ".match must be a string");
    r.match = j["match"].get<std::string>();
  }
  NAUT_RETURN_IF_ERROR(str("content", r.content));
  NAUT_RETURN_IF_ERROR(str("reasoning", r.reasoning));
  NAUT_RETURN_IF_ERROR(str("finish_reason", r.finish_reason));
  NAUT_RETURN_IF_ERROR(str("error", r.error));
  NAUT_RETURN_IF_ERROR(str("error_type", r.error_type));
  NAUT_RETURN_IF_ERROR(num("delay_ms", r.delay_ms));
  NAUT_RETURN_IF_ERROR(num("chunk_delay_ms", r.chunk_delay_ms));
  NAUT_RETURN_IF_ERROR(num("cut_after_chunks", r.cut_after_chunks));
  NAUT_RETURN_IF_ERROR(num("status", r.status));
  int chunk = 8;
  NAUT_RETURN_IF_ERROR(num("chunk_size", chunk));
  r.chunk_size = static_cast<size_t>(std::max(1, chunk));
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean())
      return InvalidArgument(where + ".stream must be true, false or null");
    r.stream = j["stream"].get<bool>();
  }
  if (j.contains("stream_error")) r.stream_error = j["stream_error"];
  if (j.contains("raw_body")) {
    if (!j["raw_body"].is_string()) return InvalidArgument(where + ".raw_body must be a string");
    r.raw_body = j["raw_body"].get<std::string>();
  }
  if (j.contains("usage")) {
    if (!j["usage"].is_object()) return InvalidArgument(where + ".usage must be an object");
    r.usage = j["usage"];
  }
  if (j.contains("timings")) {
    if (!j["timings"].is_object()) return InvalidArgument(where + ".timings must be an object");
    r.timings = j["timings"];
  }
  if (j.contains("headers")) {
    if (!j["headers"].is_object())
      return InvalidArgument(where + ".headers must be an object of strings");
    for (const auto& [k, v] : j["headers"].items()) {
      if (!v.is_string()) return InvalidArgument(where + ".headers." + k + " must be a string");
      r.headers[k] = v.get<std::string>();
    }
  }
  if (j.contains("tool_calls")) {
    if (!j["tool_calls"].is_array()) return InvalidArgument(where + ".tool_calls must be an array");
    int i = 0;
    for (const auto& c : j["tool_calls"]) {
      std::string at = where + ".tool_calls[" + std::to_string(i) + "]";
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) {
        return InvalidArgument(at + " must be an object with a string \"name\"");
      }
      ScriptedCall call;
      call.name = c["name"].get<std::string>();
      call.id = c.contains("id") && c["id"].is_string() ? c["id"].get<std::string>()
                                                        : "call_" + std::to_string(i);
      call.arguments = c.contains("arguments") ? c["arguments"] : Json::object();
      r.tool_calls.push_back(std::move(call));
      ++i;
    }
  }
  if (r.finish_reason.empty()) r.finish_reason = r.tool_calls.empty() ? "stop" : "tool_calls";
  return r;
}

int64_t Tokens(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

// The text the simulated prompt cache compares: what a chat template would render.
std::string PromptText(const Json& body) {
  std::string text;
  if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array()) return text;
  for (const auto& m : body["messages"]) {
    if (!m.is_object()) continue;
    if (m.contains("role") && m["role"].is_string()) text += m["role"].get<std::string>();
    text += "\n";
    if (m.contains("content") && m["content"].is_string()) text += m["content"].get<std::string>();
    if (m.contains("tool_calls")) text += DumpJson(m["tool_calls"]);
    text += "\n";
  }
  return text;
}

}  // namespace

struct ScriptedServer::Impl {
  httplib::Server server;
  std::string model = "scripted-model";
  int64_t context_size = 8192;
  int slots = 4;
  bool prefix_cache = false;
  int health_status = 200;
  std::vector<ScriptedResponse> responses;
  std::optional<ScriptedResponse> fallback;

  Mutex mu;
  std::vector<bool> used GUARDED_BY(mu);
  std::vector<std::string> cached GUARDED_BY(mu);   // one remembered prompt per slot
  std::vector<int64_t> cached_used GUARDED_BY(mu);  // LRU stamps
  int64_t clock GUARDED_BY(mu) = 0;
  int64_t seq GUARDED_BY(mu) = 0;
  std::ofstream record GUARDED_BY(mu);
  std::atomic<int> in_flight{0};

  // Picks the response for a request body; -1: the default; -2: none left.
  int Pick(const std::string& body) {
    MutexLock lock(mu);
    for (size_t i = 0; i < responses.size(); ++i) {
      if (!used[i] && responses[i].match && body.find(*responses[i].match) != std::string::npos) {
        used[i] = true;
        return static_cast<int>(i);
      }
    }
    for (size_t i = 0; i < responses.size(); ++i) {
      if (!used[i] && !responses[i].match) {
        used[i] = true;
        return static_cast<int>(i);
      }
    }
    return fallback ? -1 : -2;
  }

  void Record(const std::string& path, const std::string& body, std::optional<int> response) {
    MutexLock lock(mu);
    if (!record.is_open()) return;
    auto parsed = ParseJson(body, "request body");
    Json line{{"seq", seq++}, {"path", path}, {"body", parsed ? std::move(*parsed) : Json(body)}};
    if (response) line["response"] = *response;
    record << DumpJson(line) << "\n";
    record.flush();
  }

  // Cached tokens for this prompt, choosing a slot the way llama-server does: among slots
  // whose cached prompt shares more than half with this one (--slot-prompt-similarity 0.5),
  // the longest common prefix; else the least recently used slot. The prompt then replaces
  // that slot's contents.
  int64_t CacheLookup(const std::string& prompt) {
    if (!prefix_cache) return 0;
    MutexLock lock(mu);
    auto common = [&](const std::string& c) {
      size_t n = 0;
      while (n < c.size() && n < prompt.size() && c[n] == prompt[n]) ++n;
      return n;
    };
    std::optional<size_t> pick;
    size_t best_common = 0;
    for (size_t s = 0; s < cached.size(); ++s) {
      if (cached[s].empty()) continue;
      size_t n = common(cached[s]);
      double similarity = static_cast<double>(n) / static_cast<double>(cached[s].size());
      if (n > best_common && similarity > 0.5) {
        best_common = n;
        pick = s;
      }
    }
    if (!pick) {
      pick = 0;
      for (size_t s = 1; s < cached.size(); ++s) {
        if (cached_used[s] < cached_used[*pick]) pick = s;
      }
    }
    size_t reused = common(cached[*pick]);
    cached[*pick] = prompt;
    cached_used[*pick] = ++clock;
    return static_cast<int64_t>(reused / 4);
  }

  // What every answer to one chat request shares: the tool calls in the wire's shape, the usage
  // block and the creation time.
  struct Completion {
    Json calls = Json::array();
    Json usage;
    int64_t created = 0;
  };

  // The request, the scripted response it picks, and the answer: an error, the raw body, one
  // JSON completion or a stream of chunks.
  void HandleChat(const httplib::Request& req, httplib::Response& res) {
    int index = Pick(req.body);
    Record(req.path, req.body, index);
    if (index == -2) {
      res.status = 500;
      res.set_content(
          DumpJson(Json{{"error",
                         {{"message", "script exhausted: no response left for this request"},
                          {"type", "server_error"},
                          {"code", 500}}}}),
          "application/json");
      return;
    }
    const ScriptedResponse r = index >= 0 ? responses[static_cast<size_t>(index)] : *fallback;
    in_flight++;
    struct Done {
      std::atomic<int>& n;
      ~Done() { n--; }
    } done{in_flight};
    if (r.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
    for (const auto& [k, v] : r.headers) res.set_header(k, v);
    if (r.status != 200 || !r.error.empty()) {
      AnswerScriptedError(r, res);
      return;
    }
    auto parsed = ParseJson(req.body, "request body");
    const Json body = parsed ? std::move(*parsed) : Json();
    if (!body.is_object()) {
      res.status = 400;
      res.set_content(
          R"({"error":{"message":"request body is not a JSON object","type":"invalid_request_error"}})",
          "application/json");
      return;
    }
    bool stream = r.stream.value_or(body.value("stream", false));
    if (r.raw_body) {
      res.set_content(*r.raw_body, stream ? "text/event-stream" : "application/json");
      return;
    }
    const Completion completion = Complete(r, PromptText(body));
    if (!stream) {
      AnswerWhole(r, completion, res);
    } else {
      AnswerStreamed(r, completion, res);
    }
  }

  static void AnswerScriptedError(const ScriptedResponse& r, httplib::Response& res) {
    res.status = r.status == 200 ? 500 : r.status;
    if (r.raw_body) {
      res.set_content(*r.raw_body, "text/plain");
      return;
    }
    res.set_content(DumpJson(Json{{"error",
                                   {{"message", r.error.empty() ? "scripted error" : r.error},
                                    {"type", r.error_type.empty() ? "server_error" : r.error_type},
                                    {"code", res.status}}}}),
                    "application/json");
  }

  // Counts tokens as 4 bytes each, the cached ones from the simulated prompt cache; the script's
  // own usage fields override.
  Completion Complete(const ScriptedResponse& r, const std::string& prompt) {
    Completion out;
    out.usage = Json{{"prompt_tokens", Tokens(prompt.size())}, {"completion_tokens", 0}};
    int64_t cached_tokens = CacheLookup(prompt);
    size_t answer_bytes = r.content.size() + r.reasoning.size();
    for (const auto& c : r.tool_calls) {
      std::string args =
          c.arguments.is_string() ? c.arguments.get<std::string>() : DumpJson(c.arguments);
      answer_bytes += c.name.size() + args.size();
      out.calls.push_back(Json{{"id", c.id},
                               {"type", "function"},
                               {"function", {{"name", c.name}, {"arguments", args}}}});
    }
    Json& usage = out.usage;
    usage["completion_tokens"] = Tokens(answer_bytes);
    usage["prompt_tokens_details"] = Json{{"cached_tokens", cached_tokens}};
    if (r.usage) {
      for (const auto& [k, v] : r.usage->items()) {
        if (k == "cached_tokens") {
          usage["prompt_tokens_details"]["cached_tokens"] = v;
        } else {
          usage[k] = v;
        }
      }
    }
    usage["total_tokens"] =
        usage["prompt_tokens"].get<int64_t>() + usage["completion_tokens"].get<int64_t>();
    out.created = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    return out;
  }

  void AnswerWhole(const ScriptedResponse& r, const Completion& c, httplib::Response& res) {
    Json message{{"role", "assistant"}, {"content", r.content}};
    if (!r.reasoning.empty()) message["reasoning_content"] = r.reasoning;
    if (!c.calls.empty()) message["tool_calls"] = c.calls;
    Json out{{"id", "chatcmpl-scripted"},
             {"object", "chat.completion"},
             {"created", c.created},
             {"model", model},
             {"choices",
              Json::array(
                  {Json{{"index", 0}, {"message", message}, {"finish_reason", r.finish_reason}}})},
             {"usage", c.usage}};
    if (r.timings) out["timings"] = *r.timings;
    res.set_content(DumpJson(out), "application/json");
  }

  // The server-sent events of a streamed answer, in `r.chunk_size` pieces.
  std::vector<std::string> StreamEvents(const ScriptedResponse& r, const Completion& completion) {
    std::vector<std::string> events;
    auto chunk = [&](Json delta, Json finish) {
      Json c{{"id", "chatcmpl-scripted"},
             {"object", "chat.completion.chunk"},
             {"created", completion.created},
             {"model", model},
             {"choices", Json::array({Json{{"index", 0},
                                           {"delta", std::move(delta)},
                                           {"finish_reason", std::move(finish)}}})}};
      events.push_back("data: " + DumpJson(c) + "\n\n");
    };
    chunk(Json{{"role", "assistant"}, {"content", ""}}, nullptr);
    for (size_t i = 0; i < r.reasoning.size(); i += r.chunk_size) {
      chunk(Json{{"reasoning_content", r.reasoning.substr(i, r.chunk_size)}}, nullptr);
    }
    for (size_t i = 0; i < r.content.size(); i += r.chunk_size) {
      chunk(Json{{"content", r.content.substr(i, r.chunk_size)}}, nullptr);
    }
    const Json& calls = completion.calls;
    for (size_t k = 0; k < calls.size(); ++k) {
      const Json& c = calls[k];
      chunk(Json{{"tool_calls",
                  Json::array(
                      {Json{{"index", k},
                            {"id", c["id"]},
                            {"type", "function"},
                            {"function", {{"name", c["function"]["name"]}, {"arguments", ""}}}}})}},
            nullptr);
      std::string args = c["function"]["arguments"].get<std::string>();
      for (size_t i = 0; i < args.size(); i += r.chunk_size) {
        chunk(Json{{"tool_calls",
                    Json::array(
                        {Json{{"index", k},
                              {"function", {{"arguments", args.substr(i, r.chunk_size)}}}}})}},
              nullptr);
      }
    }
    if (r.stream_error) {
      events.push_back("data: " + DumpJson(Json{{"error", *r.stream_error}}) + "\n\n");
    } else {
      chunk(Json::object(), r.finish_reason);
      Json final_chunk{{"id", "chatcmpl-scripted"},     {"object", "chat.completion.chunk"},
                       {"created", completion.created}, {"model", model},
                       {"choices", Json::array()},      {"usage", completion.usage}};
      if (r.timings) final_chunk["timings"] = *r.timings;
      events.push_back("data: " + DumpJson(final_chunk) + "\n\n");
      events.emplace_back("data: [DONE]\n\n");
    }
    return events;
  }

  // The chunks are prepared up front, then written with the scripted pauses.
  void AnswerStreamed(const ScriptedResponse& r, const Completion& c, httplib::Response& res) {
    std::vector<std::string> events = StreamEvents(r, c);
    int cut = r.cut_after_chunks;
    int pause = r.chunk_delay_ms;
    in_flight++;  // held by the content provider until it finishes
    res.set_chunked_content_provider("text/event-stream", [events = std::move(events), cut, pause,
                                                           this](size_t, httplib::DataSink& sink) {
      struct Release {
        std::atomic<int>& n;
        ~Release() { n--; }
      } release{in_flight};
      for (size_t i = 0; i < events.size(); ++i) {
        if (cut >= 0 && static_cast<int>(i) >= cut) return false;  // drops the connection
        if (pause > 0 && i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause));
        if (!sink.is_writable() || !sink.write(events[i].data(), events[i].size())) return false;
      }
      sink.done();
      return true;
    });
  }

  // The script's top-level keys; the responses are parsed by ParseResponse.
  Status Configure(const Json& script) {
    for (const auto& [k, v] : script.items()) {
      if (k == "model") {
        if (!v.is_string()) return InvalidArgument("script.model must be a string");
        model = v.get<std::string>();
      } else if (k == "context_size") {
        if (!v.is_number_integer())
          return InvalidArgument("script.context_size must be an integer");
        context_size = v.get<int64_t>();
      } else if (k == "slots") {
        if (!v.is_number_integer() || v.get<int>() < 1)
          return InvalidArgument("script.slots must be a positive integer");
        slots = v.get<int>();
      } else if (k == "prefix_cache") {
        if (!v.is_boolean()) return InvalidArgument("script.prefix_cache must be true or false");
        prefix_cache = v.get<bool>();
      } else if (k == "health_status") {
        if (!v.is_number_integer())
          return InvalidArgument("script.health_status must be an integer");
        health_status = v.get<int>();
      } else if (k == "responses") {
        if (!v.is_array()) return InvalidArgument("script.responses must be an array");
        for (size_t i = 0; i < v.size(); ++i) {
          NAUT_ASSIGN_OR_RETURN(auto r,
                                ParseResponse(v[i], "script.responses[" + std::to_string(i) + "]"));
          responses.push_back(std::move(r));
        }
      } else if (k == "default") {
        NAUT_ASSIGN_OR_RETURN(auto r, ParseResponse(v, "script.default"));
        fallback = std::move(r);
      } else if (k != "comment") {
        return InvalidArgument(
            "script: unknown key '" + k +
            "'; expected model, context_size, slots, prefix_cache, health_status, "
            "responses, default");
      }
    }
    MutexLock lock(mu);
    used.assign(responses.size(), false);
    cached.assign(static_cast<size_t>(slots), "");
    cached_used.assign(static_cast<size_t>(slots), 0);
    return Status::Ok();
  }

  // The OpenAI- and llama-server-shaped endpoints besides chat.
  void AddServiceRoutes() {
    httplib::Server& srv = server;
    Impl* p = this;
    srv.Get("/health", [p](const httplib::Request& req, httplib::Response& res) {
      p->Record(req.path, "", std::nullopt);
      res.status = p->health_status;
      res.set_content(
          p->health_status == 200
              ? R"({"status":"ok"})"
              : R"({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}})",
          "application/json");
    });
    srv.Get("/v1/models", [p](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          DumpJson(Json{{"object", "list"},
                        {"data", Json::array({Json{{"id", p->model}, {"object", "model"}}})}}),
          "application/json");
    });
    srv.Get("/props", [p](const httplib::Request&, httplib::Response& res) {
      res.set_content(DumpJson(Json{{"default_generation_settings", {{"n_ctx", p->context_size}}},
                                    {"total_slots", p->slots},
                                    {"model_alias", p->model}}),
                      "application/json");
    });
    srv.Get("/slots", [p](const httplib::Request&, httplib::Response& res) {
      Json slots = Json::array();
      int busy = p->in_flight.load();
      for (int i = 0; i < p->slots; ++i)
        slots.push_back(Json{{"id", i}, {"is_processing", i < busy}});
      res.set_content(DumpJson(slots), "application/json");
    });
    srv.Post("/tokenize", [](const httplib::Request& req, httplib::Response& res) {
      auto parsed = ParseJson(req.body, "request body");
      const Json body = parsed ? std::move(*parsed) : Json();
      if (!body.is_object() || !body.contains("content") || !body["content"].is_string()) {
        res.status = 400;
        res.set_content(
            R"({"error":{"message":"expected {\"content\": \"text\"}","type":"invalid_request_error"}})",
            "application/json");
        return;
      }
      Json tokens = Json::array();
      for (int64_t i = 0; i < Tokens(body["content"].get<std::string>().size()); ++i)
        tokens.push_back(i);
      res.set_content(DumpJson(Json{{"tokens", tokens}}), "application/json");
    });
    srv.Post("/v1/embeddings", [p](const httplib::Request& req, httplib::Response& res) {
      p->Record(req.path, req.body, std::nullopt);
      auto parsed = ParseJson(req.body, "request body");
      const Json body = parsed ? std::move(*parsed) : Json();
      Json inputs = body.is_object() && body.contains("input") ? body["input"] : Json();
      if (inputs.is_string()) inputs = Json::array({inputs});
      if (!inputs.is_array()) {
        res.status = 400;
        res.set_content(
            R"({"error":{"message":"expected \"input\"","type":"invalid_request_error"}})",
            "application/json");
        return;
      }
      // A deterministic stand-in: byte histogram folded into 8 dimensions.
      Json data = Json::array();
      for (size_t i = 0; i < inputs.size(); ++i) {
        std::vector<double> v(8, 0.0);
        std::string text =
            inputs[i].is_string() ? inputs[i].get<std::string>() : DumpJson(inputs[i]);
        for (unsigned char c : text) v[c % 8] += 1.0;
        data.push_back(Json{{"object", "embedding"}, {"index", i}, {"embedding", v}});
      }
      res.set_content(DumpJson(Json{{"object", "list"}, {"data", data}, {"model", p->model}}),
                      "application/json");
    });
  }
};

ScriptedServer::ScriptedServer() : impl_(std::make_unique<Impl>()) {}
ScriptedServer::~ScriptedServer() = default;

Result<std::unique_ptr<ScriptedServer>> ScriptedServer::Create(
    const Json& script, std::optional<std::filesystem::path> record_file) {
  if (!script.is_object()) return InvalidArgument("script must be a JSON object");
  std::unique_ptr<ScriptedServer> s(new ScriptedServer());
  Impl& impl = *s->impl_;
  NAUT_RETURN_IF_ERROR(impl.Configure(script));
  if (record_file) {
    MutexLock lock(impl.mu);
    impl.record.open(*record_file, std::ios::app);
    if (!impl.record) return InvalidArgument("cannot open record file " + record_file->string());
  }
  httplib::Server& srv = impl.server;
  srv.set_tcp_nodelay(true);  // small answers must not wait for delayed ACKs
  Impl* p = &impl;
  srv.Post("/v1/chat/completions",
           [p](const httplib::Request& req, httplib::Response& res) { p->HandleChat(req, res); });
  srv.Post("/chat/completions",
           [p](const httplib::Request& req, httplib::Response& res) { p->HandleChat(req, res); });
  impl.AddServiceRoutes();
  return s;
}

Result<int> ScriptedServer::Bind(const std::string& host, int port) {
  int bound = port == 0 ? impl_->server.bind_to_any_port(host)
                        : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return Unavailable("cannot listen on " + host + ":" + std::to_string(port));
  return bound;
}

void ScriptedServer::Serve() { impl_->server.listen_after_bind(); }
void ScriptedServer::Stop() { impl_->server.stop(); }

}  // namespace naut::llm
