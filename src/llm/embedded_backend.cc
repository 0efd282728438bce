#include "llm/embedded_backend.h"

#include <chrono>
#include <thread>

#include "engine/generate.h"

namespace naut::llm {

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

LlmError Error(LlmError::Kind kind, std::string message) {
  LlmError e;
  e.kind = kind;
  e.message = std::move(message);
  e.endpoint = "embedded";
  return e;
}

}  // namespace

Result<std::unique_ptr<EmbeddedBackend>> EmbeddedBackend::Load(const EmbeddedOptions& o) {
  std::unique_ptr<EmbeddedBackend> b(new EmbeddedBackend());
  b->path_ = o.model_path;
  NAUT_ASSIGN_OR_RETURN(b->model_, engine::Model::Load(o.model_path));
  if (!o.chat_format.empty()) {
    auto f = ParseChatFormat(o.chat_format);
    if (!f) return InvalidArgument("unknown chat format '" + o.chat_format + "'");
    b->format_ = *f;
  } else {
    const std::string tmpl = b->model_->file().GetStringOr("tokenizer.chat_template", "");
    auto f = DetectChatFormat(tmpl);
    if (!f.ok()) return f.error().WithContext(o.model_path);
    b->format_ = *f;
  }
  engine::ContextOptions co;
  co.n_ctx = o.context_size > 0 ? o.context_size : 4096;
  co.n_threads = o.threads > 0 ? o.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  NAUT_ASSIGN_OR_RETURN(b->ctx_, engine::Context::Create(*b->model_, co));
  return b;
}

std::string EmbeddedBackend::Describe() const {
  return "embedded " + path_ + " (" + std::string(ChatFormatName(format_)) + ")";
}

ChatResult EmbeddedBackend::Chat(const ChatRequest& request, const CallOptions& options) {
  const auto t0 = Clock::now();
  if (request.messages.empty()) return Error(LlmError::Kind::kBadRequest, "no messages");
  if (request.response_format.type != ResponseFormat::Type::kText) {
    return Error(LlmError::Kind::kBadRequest,
                 "the embedded engine cannot constrain output to JSON yet (response_format)");
  }
  const std::string prompt =
      RenderChat(format_, request.messages,
                 request.tool_choice.mode == ToolChoice::Mode::kNone ? std::vector<ToolSpec>{}
                                                                     : request.tools);
  const engine::Tokenizer& tok = model_->tokenizer();
  std::vector<engine::TokenId> ids =
      tok.Tokenize(prompt, /*add_special=*/true, /*parse_special=*/true);

  std::lock_guard lock(mu_);
  if (static_cast<int>(ids.size()) >= ctx_->n_ctx()) {
    return Error(LlmError::Kind::kContextLengthExceeded,
                 "the prompt has " + std::to_string(ids.size()) + " tokens; the context holds " +
                     std::to_string(ctx_->n_ctx()));
  }
  engine::GenerateOptions g;
  const Sampling& s = request.sampling;
  if (s.temperature) g.sampling.temperature = static_cast<float>(*s.temperature);
  if (s.top_p) g.sampling.top_p = static_cast<float>(*s.top_p);
  if (s.top_k) g.sampling.top_k = *s.top_k;
  if (s.min_p) g.sampling.min_p = static_cast<float>(*s.min_p);
  if (s.repeat_penalty) g.sampling.repeat_penalty = static_cast<float>(*s.repeat_penalty);
  if (s.seed) g.sampling.seed = static_cast<uint64_t>(*s.seed);
  g.max_tokens = s.max_tokens ? *s.max_tokens : ctx_->n_ctx() - static_cast<int>(ids.size());
  g.stop = request.stop;
  double first_ms = 0;
  g.on_text = [&](std::string_view text) {
    if (options.cancel.stop_requested()) return false;
    if (first_ms == 0) first_ms = MsSince(t0);
    if (options.on_delta) {
      StreamDelta d;
      d.content = ValidUtf8(text);
      options.on_delta(d);
    }
    return true;
  };
  auto r = engine::Generate(*ctx_, ids, g);
  if (!r.ok()) return Error(LlmError::Kind::kServer, r.error().ToString());
  if (r->stop_reason == "cancelled") return Error(LlmError::Kind::kCancelled, "cancelled");

  ChatResponse out;
  // Byte tokens can leave invalid UTF-8 (a random or confused model writes lone bytes); what
  // leaves the backend is always valid text, as an HTTP server's JSON would be.
  out.content = ValidUtf8(r->text);
  // Reasoning models (Qwen3, DeepSeek-R1 distills) think first; that goes to `reasoning`, as an
  // OpenAI-compatible server reports it.
  out.reasoning = TakeReasoning(&out.content);
  out.finish_reason = (r->stop_reason == "length" || r->stop_reason == "context")
                          ? FinishReason::kLength
                          : FinishReason::kStop;
  out.usage.prompt_tokens = r->n_prompt;
  out.usage.cached_tokens = r->n_reused;
  out.usage.completion_tokens = static_cast<int64_t>(r->tokens.size());
  out.timings.total_ms = MsSince(t0);
  out.timings.first_token_ms = first_ms;
  out.timings.server_prompt_ms = r->prompt_seconds * 1000;
  out.timings.server_predicted_ms = r->gen_seconds * 1000;
  out.model = model_->file().GetStringOr("general.name", path_);
  out.endpoint = "embedded";
  return out;
}

}  // namespace naut::llm
