#include "server/v1/model_server.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "core/mutex.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/model.h"
#include "llm/chat_format.h"
#include "llm/prompt_writer.h"
#include "llm/tool_calls.h"
#include "server/v1/openai_request.h"
#include "server/v1/scheduler.h"

namespace naut::server {

namespace {

using Clock = std::chrono::steady_clock;

void Send(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json; charset=utf-8");
}

void SendError(httplib::Response& res, const ApiError& e) { Send(res, e.status, ErrorJson(e)); }

std::string RandomId(const char* prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kChars[rng() % (sizeof(kChars) - 1)];
  return id;
}

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

// The text a generation has written so far, handed from the scheduler thread (Push, through
// GenerateOptions::on_text) to the HTTP thread that streams it (Take). `gone` tells the
// scheduler the client went away, so on_text stops the generation.
class TextFeed {
 public:
  void Push(std::string_view text) {
    MutexLock lock(mu_);
    text_.append(text);
    cv_.notify_all();
  }
  // Waits up to `timeout` for text past `from`, or for `done` to say the job ended.
  std::string TextFrom(size_t from, std::chrono::milliseconds timeout, Job& job) {
    MutexLock lock(mu_);
    if (text_.size() <= from && !job.done()) cv_.wait_for(lock, timeout);
    return text_.size() > from ? text_.substr(from) : std::string();
  }
  void Wake() {
    MutexLock lock(mu_);
    cv_.notify_all();
  }
  std::atomic<bool> gone{false};

 private:
  Mutex mu_;
  std::condition_variable_any cv_;
  std::string text_ GUARDED_BY(mu_);
};

// One request on its way: the parsed request, the job, and what the response must say.
struct Exchange {
  V1Request v1;
  std::shared_ptr<Job> job;
  std::shared_ptr<TextFeed> feed;
  std::shared_ptr<const engine::Grammar> grammar;  // kept alive while the job runs
  std::vector<std::string> triggers;               // a lazy tool-call grammar's
  bool tools = false;                              // tool calls are read from the answer
  bool hold_all = false;                           // stream nothing before the end
  std::string id;
  int64_t created = 0;
  std::string model;
};

const char* FinishReasonOf(const engine::GenerateResult& r) {
  return r.stop_reason == "length" || r.stop_reason == "context" ? "length" : "stop";
}

Json UsageJson(const Job& job) {
  const auto& r = job.result;
  return Json{{"prompt_tokens", r.n_prompt},
              {"completion_tokens", r.tokens.size()},
              {"total_tokens", r.n_prompt + static_cast<int64_t>(r.tokens.size())},
              {"prompt_tokens_details", {{"cached_tokens", r.n_reused}}}};
}

Json TimingsJson(const Job& job) {
  const auto& r = job.result;
  const int prompt_n = r.n_prompt - r.n_reused;
  const auto predicted_n = static_cast<int64_t>(r.tokens.size());
  auto per_second = [](double n, double ms) { return ms > 0 ? n * 1000 / ms : 0.0; };
  return Json{
      {"cache_n", r.n_reused},
      {"prompt_n", prompt_n},
      {"prompt_ms", job.prompt_ms},
      {"prompt_per_second", per_second(prompt_n, job.prompt_ms)},
      {"predicted_n", predicted_n},
      {"predicted_ms", job.predicted_ms},
      {"predicted_per_second", per_second(static_cast<double>(predicted_n), job.predicted_ms)}};
}

// The assistant message of a finished chat job: content, reasoning and tool calls.
struct Answer {
  std::string content;
  std::string reasoning;
  std::vector<llm::ToolCall> calls;
  std::string finish_reason;
};

Answer ReadAnswer(const Exchange& x) {
  Answer a;
  a.content = ValidUtf8(x.job->result.text);
  a.finish_reason = FinishReasonOf(x.job->result);
  if (!x.v1.chat) return a;
  a.reasoning = llm::TakeReasoning(&a.content);
  if (x.tools) {
    llm::ToolCallParser parser(x.v1.request.tools);
    llm::ParsedToolCalls parsed = parser.ParseContent(a.content);
    if (!parsed.calls.empty()) {
      a.calls = std::move(parsed.calls);
      a.content = parsed.text;
      for (auto& c : a.calls) {
        if (c.id.empty()) c.id = RandomId("call_");
      }
      a.finish_reason = "tool_calls";
    }
  }
  return a;
}

Json ToolCallsJson(const std::vector<llm::ToolCall>& calls, bool with_index) {
  Json out = Json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    Json c{{"id", calls[i].id},
           {"type", "function"},
           {"function", {{"name", calls[i].name}, {"arguments", DumpJson(calls[i].arguments)}}}};
    if (with_index) c["index"] = i;
    out.push_back(std::move(c));
  }
  return out;
}

Json CompleteResponse(const Exchange& x) {
  const Answer a = ReadAnswer(x);
  Json body{{"id", x.id}, {"created", x.created}, {"model", x.model}};
  if (x.v1.chat) {
    Json message{{"role", "assistant"}};
    message["content"] = a.content.empty() && !a.calls.empty() ? Json(nullptr) : Json(a.content);
    if (!a.reasoning.empty()) message["reasoning_content"] = a.reasoning;
    if (!a.calls.empty()) message["tool_calls"] = ToolCallsJson(a.calls, false);
    body["object"] = "chat.completion";
    body["choices"] =
        Json::array({{{"index", 0}, {"message", message}, {"finish_reason", a.finish_reason}}});
  } else {
    body["object"] = "text_completion";
    body["choices"] = Json::array({{{"index", 0},
                                    {"text", a.content},
                                    {"logprobs", nullptr},
                                    {"finish_reason", a.finish_reason}}});
  }
  body["usage"] = UsageJson(*x.job);
  body["timings"] = TimingsJson(*x.job);
  return body;
}

// A job's failure as an HTTP error.
ApiError JobError(const Status& st) {
  switch (st.code()) {
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
      return {400, "invalid_request_error", st.message()};
    case Code::kUnavailable:
      return {503, "unavailable_error", st.message()};
    case Code::kCancelled:
      return {499, "cancelled", st.message()};
    default:
      return {500, "server_error", st.message()};
  }
}

std::string SseData(const Json& j) { return "data: " + DumpJson(j) + "\n\n"; }

// Where the earliest trigger starts in `text`, whole or as a prefix running to its end; npos
// when no trigger can start in it.
size_t TriggerStart(std::string_view text, const std::vector<std::string>& triggers) {
  size_t at = std::string_view::npos;
  for (const std::string& t : triggers) {
    if (t.empty()) continue;
    size_t full = text.find(t);
    if (full != std::string_view::npos) at = std::min(at, full);
    for (size_t k = std::min(t.size() - 1, text.size()); k > 0; --k) {
      if (text.compare(text.size() - k, k, t.data(), k) == 0) {
        at = std::min(at, text.size() - k);
        break;
      }
    }
  }
  return at;
}

}  // namespace

class ModelServer::Impl {
 public:
  explicit Impl(ModelServerOptions o) : options_(std::move(o)) {
    alias_ = options_.model_alias.empty()
                 ? std::filesystem::path(options_.model_path).stem().string()
                 : options_.model_alias;
  }
  ~Impl() { Stop(); }

  void Start() {
    loader_ = std::thread([this] { Load(); });
  }

  Status WaitLoaded() {
    MutexLock lock(mu_);
    while (!loaded_) cv_.wait(lock);
    return load_status_;
  }

  void Stop() {
    if (loader_.joinable()) loader_.join();
    stopped_.store(true);
    if (scheduler_) scheduler_->Stop();
  }

  void Mount(httplib::Server& http);

 private:
  void Load() {
    Status st = LoadModel();
    if (!st.ok()) spdlog::error("model server: {}", st.ToString());
    MutexLock lock(mu_);
    load_status_ = st;
    loaded_ = true;
    cv_.notify_all();
  }

  Status LoadModel() {
    NAUT_ASSIGN_OR_RETURN(model_, engine::Model::Load(options_.model_path));
    embed_threads_ = options_.threads > 0
                         ? options_.threads
                         : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    if (model_->embedding_only()) {
      // An encoder (bert) has no chat template and cannot generate: embeddings only.
      pooling_ = options_.pooling.empty() ? engine::PoolingOf(*model_)
                                          : engine::ParsePooling(options_.pooling);
      spdlog::info("model server: {} loaded (a {} embedding model: /v1/embeddings only)",
                   options_.model_path, model_->params().arch_name);
      return Status::Ok();
    }
    NAUT_ASSIGN_OR_RETURN(
        writer_, llm::PromptWriter::Create(*model_, options_.chat_format, options_.chat_template,
                                           options_.model_path));
    SchedulerOptions so;
    so.slots = options_.parallel;
    so.queue_size = options_.queue_size;
    so.batch_size = options_.batch_size;
    so.context.n_ctx = options_.context_size;
    so.context.kv_type = *engine::ParseKvType(options_.kv_cache);  // checked by Open
    so.context.n_threads = embed_threads_;
    NAUT_ASSIGN_OR_RETURN(scheduler_, Scheduler::Start(*model_, so));
    // A pooling the file names wrongly leaves generation served and embeddings refused.
    pooling_ = options_.pooling.empty() ? engine::PoolingOf(*model_)
                                        : engine::ParsePooling(options_.pooling);
    spdlog::info("model server: {} loaded ({}; {} slots of {} tokens)", options_.model_path,
                 writer_->Describe(), so.slots, scheduler_->n_ctx());
    return Status::Ok();
  }

  // Null (and an error answered) until the model is loaded, or once stopped; with `generation`,
  // also for an embedding model, which serves no generation.
  bool Ready(httplib::Response& res, bool generation = false) {
    MutexLock lock(mu_);
    if (!loaded_) {
      SendError(res, {503, "unavailable_error", "Loading model"});
      return false;
    }
    if (!load_status_.ok()) {
      SendError(res, {500, "server_error", "the model failed to load: " + load_status_.ToString()});
      return false;
    }
    if (stopped_.load()) {
      SendError(res, {503, "unavailable_error", "the model server is stopping"});
      return false;
    }
    if (generation && model_->embedding_only()) {
      SendError(res, {501, "not_supported_error",
                      alias_ + " is an embedding model (" + model_->params().arch_name +
                          "); it serves /v1/embeddings, not generation"});
      return false;
    }
    return true;
  }

  // The grammar (cached by its text) and vocabulary for an output grammar.
  Result<std::pair<std::shared_ptr<const engine::Grammar>, const engine::TokenVocabulary*>>
  Constraint(const llm::OutputGrammar& g) {
    MutexLock lock(grammar_mu_);
    auto& grammar = grammars_[g.gbnf];
    if (!grammar) {
      NAUT_ASSIGN_OR_RETURN(engine::Grammar parsed, engine::Grammar::Parse(g.gbnf));
      if (grammars_.size() > 64) grammars_.clear();  // in-flight jobs keep their own reference
      auto& slot = grammars_[g.gbnf];
      slot = std::make_shared<const engine::Grammar>(std::move(parsed));
      grammar = slot;
    }
    std::shared_ptr<const engine::Grammar> kept = grammars_[g.gbnf];
    std::string key;
    for (const std::string& s : g.special_text) key += s + "\n";
    auto& vocab = vocabularies_[key];
    if (!vocab) vocab = engine::TokenVocabulary::Build(model_->tokenizer(), g.special_text);
    return std::make_pair(kept, static_cast<const engine::TokenVocabulary*>(vocab.get()));
  }

  // Builds the job of a parsed request; an ApiError when the request cannot be served.
  std::optional<ApiError> Prepare(Exchange& x);
  void Generate(const httplib::Request& req, httplib::Response& res, V1Request v1);
  void Respond(const std::shared_ptr<Exchange>& x, httplib::Response& res);
  void Embeddings(const httplib::Request& req, httplib::Response& res);
  void Stream(const std::shared_ptr<Exchange>& x, httplib::Response& res);
  std::string Metrics();

  const ModelServerOptions options_;
  std::string alias_;
  Mutex mu_;
  std::condition_variable_any cv_;
  bool loaded_ GUARDED_BY(mu_) = false;
  Status load_status_ GUARDED_BY(mu_);
  // Written by the loader thread before loaded_ is set, read only after Ready() saw it.
  std::unique_ptr<engine::Model> model_;
  std::unique_ptr<llm::PromptWriter> writer_;
  std::unique_ptr<Scheduler> scheduler_;
  Result<engine::Pooling> pooling_ = engine::Pooling::kMean;
  int embed_threads_ = 1;
  std::atomic<bool> stopped_{false};
  std::thread loader_;
  // /v1/embeddings: a context of its own (made at the first request), one request at a time.
  Mutex embed_mu_;
  std::unique_ptr<engine::Context> embed_ctx_ GUARDED_BY(embed_mu_);
  Mutex grammar_mu_;
  std::map<std::string, std::shared_ptr<const engine::Grammar>> grammars_ GUARDED_BY(grammar_mu_);
  std::map<std::string, std::unique_ptr<engine::TokenVocabulary>> vocabularies_
      GUARDED_BY(grammar_mu_);
};

std::optional<ApiError> ModelServer::Impl::Prepare(Exchange& x) {
  llm::ChatRequest& r = x.v1.request;
  x.id = RandomId(x.v1.chat ? "chatcmpl-" : "cmpl-");
  x.created = UnixNow();
  x.model = alias_;
  std::string prompt;
  engine::GenerateOptions& g = (x.job = std::make_shared<Job>())->options;
  if (x.v1.chat) {
    auto text = writer_->Prompt(r);
    if (!text.ok()) return ApiError{400, "invalid_request_error", text.error().message()};
    prompt = std::move(*text);
    auto grammar = writer_->OutputGrammarFor(r, x.v1.parallel_tool_calls);
    if (!grammar.ok()) return ApiError{400, "invalid_request_error", grammar.error().message()};
    x.tools = !r.tools.empty() && r.tool_choice.mode != llm::ToolChoice::Mode::kNone;
    if (*grammar) {
      auto c = Constraint(**grammar);
      if (!c.ok()) return ApiError{400, "invalid_request_error", c.error().message()};
      x.grammar = c->first;
      g.grammar = x.grammar.get();
      g.vocabulary = c->second;
      g.grammar_triggers = (*grammar)->triggers;
      x.triggers = (*grammar)->triggers;
    }
    x.hold_all = x.tools && x.triggers.empty();
  } else {
    prompt = x.v1.prompt;
  }
  const engine::Tokenizer& tok = model_->tokenizer();
  x.job->prompt = tok.Tokenize(prompt, /*add_special=*/true, /*parse_special=*/true);
  const int n_ctx = scheduler_->n_ctx();
  if (static_cast<int>(x.job->prompt.size()) >= n_ctx) {
    return ApiError{400, "exceed_context_size_error",
                    "the request exceeds the available context size: the prompt has " +
                        std::to_string(x.job->prompt.size()) + " tokens, a slot's context " +
                        std::to_string(n_ctx) + " (n_prompt_tokens " +
                        std::to_string(x.job->prompt.size()) + ", n_ctx " + std::to_string(n_ctx) +
                        ")"};
  }
  const llm::Sampling& s = r.sampling;
  if (s.temperature) g.sampling.temperature = static_cast<float>(*s.temperature);
  if (s.top_p) g.sampling.top_p = static_cast<float>(*s.top_p);
  if (s.top_k) g.sampling.top_k = *s.top_k;
  if (s.min_p) g.sampling.min_p = static_cast<float>(*s.min_p);
  if (s.repeat_penalty) g.sampling.repeat_penalty = static_cast<float>(*s.repeat_penalty);
  g.sampling.seed = s.seed ? static_cast<uint64_t>(*s.seed) : std::random_device{}();
  g.max_tokens = s.max_tokens ? *s.max_tokens : n_ctx;
  g.stop = r.stop;
  g.stop_at_eog = !x.v1.ignore_eos;
  x.feed = std::make_shared<TextFeed>();
  g.on_text = [feed = x.feed](std::string_view text) {
    feed->Push(text);
    return !feed->gone.load();
  };
  return std::nullopt;
}

void ModelServer::Impl::Generate(const httplib::Request& req, httplib::Response& res,
                                 V1Request v1) {
  (void)req;
  if (!Ready(res, /*generation=*/true)) return;
  auto x = std::make_shared<Exchange>();
  x->v1 = std::move(v1);
  if (auto e = Prepare(*x)) return SendError(res, *e);
  Status st = scheduler_->Submit(x->job);
  if (!st.ok()) {
    if (st.code() == Code::kResourceExhausted) {
      return SendError(res, {503, "unavailable_error", "the server is busy: " + st.message()});
    }
    return SendError(res, JobError(st));
  }
  if (x->v1.stream) return Stream(x, res);
  Respond(x, res);
}

void ModelServer::Impl::Respond(const std::shared_ptr<Exchange>& x, httplib::Response& res) {
  // Most answers are ready within a second: they get a plain response with the right status.
  // A longer one becomes a chunked response that writes a space (leading JSON whitespace)
  // every second while it waits, which is how a client that went away is noticed (the write
  // fails) and its job cancelled.
  if (x->job->Wait(std::chrono::milliseconds(1000))) {
    if (!x->job->status.ok()) return SendError(res, JobError(x->job->status));
    return Send(res, 200, CompleteResponse(*x));
  }
  res.status = 200;
  res.set_chunked_content_provider(
      "application/json; charset=utf-8",
      [x](size_t, httplib::DataSink& sink) {
        while (!x->job->Wait(std::chrono::milliseconds(1000))) {
          if (!sink.write(" ", 1)) {
            x->job->Cancel();
            return false;
          }
        }
        const std::string body = x->job->status.ok()
                                     ? DumpJson(CompleteResponse(*x))
                                     : DumpJson(ErrorJson(JobError(x->job->status)));
        if (!sink.write(body.data(), body.size())) return false;
        sink.done();
        return true;
      },
      [x](bool) { x->job->Cancel(); });
}

void ModelServer::Impl::Stream(const std::shared_ptr<Exchange>& x, httplib::Response& res) {
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  auto chunk = [x](Json delta, const Json& finish) {
    Json c{{"id", x->id}, {"created", x->created}, {"model", x->model}};
    if (x->v1.chat) {
      c["object"] = "chat.completion.chunk";
      c["choices"] =
          Json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}});
    } else {
      c["object"] = "text_completion";
      c["choices"] = Json::array({{{"index", 0},
                                   {"text", delta.value("content", "")},
                                   {"logprobs", nullptr},
                                   {"finish_reason", finish}}});
    }
    return c;
  };
  struct State {
    size_t sent = 0;  // bytes of the text streamed as content
    bool started = false;
    bool held = false;  // a tool call began: the rest waits for the end
  };
  auto state = std::make_shared<State>();
  res.set_chunked_content_provider(
      "text/event-stream",
      [x, state, chunk](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) {
          if (sink.write(s.data(), s.size())) return true;
          x->feed->gone.store(true);
          x->job->Cancel();
          return false;
        };
        if (!state->started) {
          state->started = true;
          if (x->v1.chat &&
              !write(SseData(chunk(Json{{"role", "assistant"}, {"content", nullptr}}, nullptr)))) {
            return false;
          }
        }
        const bool done = x->job->done();
        std::string text = x->feed->TextFrom(state->sent, std::chrono::milliseconds(200), *x->job);
        if (!done) {
          // Stream what cannot be part of a tool call yet; the rest waits.
          size_t n = text.size();
          if (x->hold_all || state->held) n = 0;
          if (n > 0 && x->tools) {
            const size_t at = TriggerStart(text, x->triggers);
            if (at != std::string::npos) {
              n = at;
              if (x->job->grammar_active.load()) state->held = true;
            }
          }
          if (n > 0) {
            // Whole characters only: the JSON of a chunk must be valid UTF-8.
            std::string piece = text.substr(0, n);
            if (!write(SseData(chunk(Json{{"content", piece}}, nullptr)))) return false;
            state->sent += n;
          }
          // An idle stream still proves its client is there: an SSE comment every so often.
          if (n == 0 && !x->job->done() && !write(": keep-alive\n\n")) return false;
          return true;
        }
        if (!x->job->status.ok()) {
          write(SseData(ErrorJson(JobError(x->job->status))));
          sink.done();
          return true;
        }
        const Answer a = ReadAnswer(*x);
        if (!a.calls.empty()) {
          if (!write(SseData(chunk(Json{{"tool_calls", ToolCallsJson(a.calls, true)}}, nullptr))))
            return false;
        } else {
          // What is left of the text; for a chat, with the reasoning taken out as the
          // non-streamed answer does (when nothing of it was streamed yet).
          std::string rest = x->job->result.text.size() > state->sent
                                 ? x->job->result.text.substr(state->sent)
                                 : std::string();
          if (state->sent == 0 && x->v1.chat) rest = a.content;
          if (state->sent == 0 && !a.reasoning.empty()) {
            if (!write(SseData(chunk(Json{{"reasoning_content", a.reasoning}}, nullptr))))
              return false;
          }
          if (!rest.empty() &&
              !write(SseData(chunk(Json{{"content", ValidUtf8(rest)}}, nullptr)))) {
            return false;
          }
        }
        Json last = chunk(Json::object(), a.finish_reason);
        last["timings"] = TimingsJson(*x->job);
        if (x->v1.include_usage) {
          if (!write(SseData(last))) return false;
          Json usage{{"id", x->id},
                     {"object", x->v1.chat ? "chat.completion.chunk" : "text_completion"},
                     {"created", x->created},
                     {"model", x->model},
                     {"choices", Json::array()},
                     {"usage", UsageJson(*x->job)}};
          if (!write(SseData(usage))) return false;
        } else {
          last["usage"] = UsageJson(*x->job);
          if (!write(SseData(last))) return false;
        }
        if (!write("data: [DONE]\n\n")) return false;
        sink.done();
        return true;
      },
      [x](bool) {
        x->feed->gone.store(true);
        x->job->Cancel();
      });
}

std::string ModelServer::Impl::Metrics() {
  const SchedulerStats s = scheduler_->Snapshot();
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out << "# HELP llamacpp:" << name << " " << help << "\n# TYPE llamacpp:" << name << " " << type
        << "\nllamacpp:" << name << " " << value << "\n";
  };
  int64_t kv_tokens = 0;
  for (const auto& sl : s.slots) kv_tokens += sl.n_cached;
  const double kv_total = static_cast<double>(s.n_ctx) * static_cast<double>(s.slots.size());
  metric("prompt_tokens_total", "counter", "Number of prompt tokens processed.",
         static_cast<double>(s.prompt_tokens_total));
  metric("prompt_seconds_total", "counter", "Prompt process time", s.prompt_seconds_total);
  metric("tokens_predicted_total", "counter", "Number of generation tokens processed.",
         static_cast<double>(s.tokens_predicted_total));
  metric("tokens_predicted_seconds_total", "counter", "Predict process time",
         s.tokens_predicted_seconds_total);
  metric("n_decode_total", "counter", "Total number of llama_decode() calls",
         static_cast<double>(s.n_decode_total));
  metric("n_busy_slots_per_decode", "counter",
         "Average number of busy slots per llama_decode() call",
         s.n_decode_total > 0
             ? static_cast<double>(s.n_busy_slots_total) / static_cast<double>(s.n_decode_total)
             : 0.0);
  metric("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
         s.prompt_seconds_total > 0
             ? static_cast<double>(s.prompt_tokens_total) / s.prompt_seconds_total
             : 0.0);
  metric("predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
         s.tokens_predicted_seconds_total > 0
             ? static_cast<double>(s.tokens_predicted_total) / s.tokens_predicted_seconds_total
             : 0.0);
  metric("kv_cache_usage_ratio", "gauge", "KV-cache usage. 1 means 100 percent usage.",
         kv_total > 0 ? static_cast<double>(kv_tokens) / kv_total : 0.0);
  metric("kv_cache_tokens", "gauge", "KV-cache tokens.", static_cast<double>(kv_tokens));
  metric("requests_processing", "gauge", "Number of requests processing.", s.requests_processing);
  metric("requests_deferred", "gauge", "Number of requests deferred.", s.requests_deferred);
  return out.str();
}

// Each input is tokenized as llama-server does (special text parsed, BOS where the vocabulary
// wants it), run through the embedding context and pooled to a unit vector. The context is made
// at the first request, with the slots' context size, and serves one request at a time; it
// shares the cores with generation, which goes on meanwhile.
void ModelServer::Impl::Embeddings(const httplib::Request& req, httplib::Response& res) {
  if (!pooling_.ok()) {
    return SendError(res, {501, "not_supported_error",
                           "embeddings are not available for " + alias_ + ": " +
                               pooling_.error().message() + " (serve --pooling chooses one)"});
  }
  auto parsed = ParseEmbeddingsBody(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return SendError(res, *e);
  const EmbeddingsRequest& r = std::get<EmbeddingsRequest>(parsed);
  const int64_t n_vocab = model_->params().n_vocab;
  std::vector<std::vector<engine::TokenId>> texts;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    std::vector<engine::TokenId> ids;
    if (const auto* text = std::get_if<std::string>(&r.inputs[i])) {
      ids = model_->tokenizer().Tokenize(*text, /*add_special=*/true, /*parse_special=*/true);
    } else {
      ids = std::get<std::vector<int32_t>>(r.inputs[i]);
      for (engine::TokenId t : ids) {
        if (t >= n_vocab) {
          return SendError(res, {400, "invalid_request_error",
                                 "input " + std::to_string(i) + ": token id " + std::to_string(t) +
                                     " is outside the vocabulary of " + std::to_string(n_vocab)});
        }
      }
    }
    if (ids.empty()) {
      return SendError(
          res, {400, "invalid_request_error", "input " + std::to_string(i) + " has no tokens"});
    }
    texts.push_back(std::move(ids));
  }
  Json data = Json::array();
  int64_t n_tokens = 0;
  {
    MutexLock lock(embed_mu_);
    if (!embed_ctx_) {
      auto ctx = engine::Context::Create(*model_, {.n_ctx = options_.context_size,
                                                   .n_threads = embed_threads_,
                                                   .n_batch = options_.batch_size,
                                                   .n_seq = 1});
      if (!ctx.ok()) return SendError(res, JobError(ctx.error()));
      embed_ctx_ = std::move(*ctx);
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      if (texts[i].size() > static_cast<size_t>(embed_ctx_->n_ctx())) {
        return SendError(res, {400, "invalid_request_error",
                               "input " + std::to_string(i) + " has " +
                                   std::to_string(texts[i].size()) + " tokens; the context holds " +
                                   std::to_string(embed_ctx_->n_ctx()) + " (serve --ctx-size)"});
      }
    }
    if (stopped_.load()) {
      return SendError(res, {503, "unavailable_error", "the model server is stopping"});
    }
    // A bert model encodes the inputs together; other models one by one.
    auto vectors = embed_ctx_->EmbedBatch(texts, *pooling_);
    if (!vectors.ok()) return SendError(res, JobError(vectors.error()));
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<float>* v = &(*vectors)[i];
      Json item{{"object", "embedding"}, {"index", i}};
      if (r.base64) {
        item["embedding"] =
            Base64Encode({reinterpret_cast<const char*>(v->data()), v->size() * sizeof(float)});
      } else {
        item["embedding"] = std::move(*v);
      }
      data.push_back(std::move(item));
      n_tokens += static_cast<int64_t>(texts[i].size());
    }
  }
  Send(res, 200,
       Json{{"object", "list"},
            {"data", std::move(data)},
            {"model", r.model.empty() ? alias_ : r.model},
            {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}});
}

void ModelServer::Impl::Mount(httplib::Server& http) {
  const size_t max_body = options_.max_body_bytes;
  // A body over the limit is refused before it is parsed (httplib's payload limit answers 413
  // by itself; this check covers bodies it let through).
  auto body_ok = [max_body](const httplib::Request& req, httplib::Response& res) {
    if (req.body.size() > max_body) {
      SendError(res, {413, "invalid_request_error",
                      "the request body has " + std::to_string(req.body.size()) +
                          " bytes; the limit is " + std::to_string(max_body)});
      return false;
    }
    return true;
  };
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!Ready(res)) return;
    Send(res, 200, Json{{"status", "ok"}});
  });
  auto chat = [this, body_ok](const httplib::Request& req, httplib::Response& res) {
    if (!body_ok(req, res)) return;
    auto parsed = ParseChatCompletionBody(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return SendError(res, *e);
    Generate(req, res, std::move(std::get<V1Request>(parsed)));
  };
  auto completion = [this, body_ok](const httplib::Request& req, httplib::Response& res) {
    if (!body_ok(req, res)) return;
    auto parsed = ParseCompletionBody(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return SendError(res, *e);
    Generate(req, res, std::move(std::get<V1Request>(parsed)));
  };
  http.Post("/v1/chat/completions", chat);
  http.Post("/chat/completions", chat);
  http.Post("/v1/completions", completion);
  http.Post("/completions", completion);
  auto embeddings = [this, body_ok](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(res) || !body_ok(req, res)) return;
    Embeddings(req, res);
  };
  http.Post("/v1/embeddings", embeddings);
  http.Post("/embeddings", embeddings);
  auto models = [this](const httplib::Request&, httplib::Response& res) {
    if (!Ready(res)) return;
    const auto& p = model_->params();
    Send(res, 200,
         Json{{"object", "list"},
              {"data", Json::array({{{"id", alias_},
                                     {"object", "model"},
                                     {"created", UnixNow()},
                                     {"owned_by", "neuronaut"},
                                     {"meta",
                                      {{"n_vocab", p.n_vocab},
                                       {"n_ctx_train", p.n_ctx_train},
                                       {"n_embd", p.n_embd},
                                       {"n_params", model_->n_params()}}}}})}});
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get("/props", [this](const httplib::Request&, httplib::Response& res) {
    if (!Ready(res, /*generation=*/true)) return;
    Send(
        res, 200,
        Json{
            {"default_generation_settings",
             {{"n_ctx", scheduler_->n_ctx()},
              {"params", {{"temperature", 0.8}, {"top_k", 40}, {"top_p", 0.95}, {"min_p", 0.05}}}}},
            {"total_slots", scheduler_->slots()},
            {"model_path", options_.model_path},
            {"model_alias", alias_},
            {"chat_template", writer_->template_source()},
            {"modalities", {{"vision", false}, {"audio", false}}},
            {"build_info", "neuronaut embedded engine"}});
  });
  http.Get("/slots", [this](const httplib::Request&, httplib::Response& res) {
    if (!Ready(res, /*generation=*/true)) return;
    const SchedulerStats s = scheduler_->Snapshot();
    Json out = Json::array();
    for (const auto& sl : s.slots) {
      out.push_back(Json{{"id", sl.id},
                         {"n_ctx", s.n_ctx},
                         {"is_processing", sl.processing},
                         {"n_prompt_tokens", sl.n_prompt},
                         {"n_cached_tokens", sl.n_cached},
                         {"next_token", {{"n_decoded", sl.n_decoded}}}});
    }
    Send(res, 200, out);
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (!Ready(res, /*generation=*/true)) return;
    res.set_content(Metrics(), "text/plain; version=0.0.4");
  });
  auto tokenize = [this, body_ok](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(res) || !body_ok(req, res)) return;
    auto j = ParseJson(req.body, "request body");
    if (!j.ok() || !j->is_object() || !j->contains("content") || !(*j)["content"].is_string()) {
      return SendError(res,
                       {400, "invalid_request_error", "the body must be {\"content\": \"text\"}"});
    }
    const bool special = j->value("add_special", false);
    auto ids = model_->tokenizer().Tokenize((*j)["content"].get<std::string>(), special, true);
    Send(res, 200, Json{{"tokens", ids}});
  };
  http.Post("/tokenize", tokenize);
}

ModelServer::ModelServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelServer::~ModelServer() { Stop(); }

Result<std::unique_ptr<ModelServer>> ModelServer::Open(ModelServerOptions options) {
  if (options.model_path.empty()) return InvalidArgument("model server: no model path given");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.model_path, ec)) {
    return NotFound("model server: " + options.model_path + " is not a file");
  }
  if (options.parallel < 1 || options.parallel > 64) {
    return InvalidArgument("model server: parallel must be 1..64, got " +
                           std::to_string(options.parallel));
  }
  if (options.queue_size < 0) return InvalidArgument("model server: queue_size must be >= 0");
  if (options.context_size < 16) return InvalidArgument("model server: context_size must be >= 16");
  if (options.batch_size < 1) return InvalidArgument("model server: batch_size must be >= 1");
  if (!options.pooling.empty()) {
    if (auto p = engine::ParsePooling(options.pooling); !p.ok())
      return InvalidArgument("model server: " + p.error().message());
  }
  if (auto k = engine::ParseKvType(options.kv_cache); !k.ok())
    return InvalidArgument("model server: " + k.error().message());
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->Start();
  return std::unique_ptr<ModelServer>(new ModelServer(std::move(impl)));
}

Status ModelServer::WaitLoaded() { return impl_->WaitLoaded(); }
void ModelServer::Mount(httplib::Server& http) { impl_->Mount(http); }
void ModelServer::Stop() { impl_->Stop(); }

}  // namespace naut::server
