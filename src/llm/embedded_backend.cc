#include "llm/embedded_backend.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "core/files.h"
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

std::string TokenText(const engine::Tokenizer& tok, engine::TokenId id) {
  return id >= 0 && id < tok.n_tokens() ? tok.token_text(id) : "";
}

}  // namespace

Status EmbeddedBackend::ChoosePromptFormat(const EmbeddedOptions& o) {
  if (!o.chat_format.empty()) {
    if (!o.chat_template.empty()) {
      return InvalidArgument("set either chat_format or chat_template, not both");
    }
    auto f = ParseChatFormat(o.chat_format);
    if (!f) return InvalidArgument("unknown chat format '" + o.chat_format + "'");
    format_ = *f;
    has_format_ = true;
    return Status::Ok();
  }
  std::string source;
  if (!o.chat_template.empty()) {
    auto text = ReadFile(o.chat_template);
    if (!text.ok()) return text.error().WithContext("chat_template");
    source = std::move(*text);
    template_origin_ = o.chat_template;
  } else {
    source = model_->file().GetStringOr("tokenizer.chat_template", "");
    template_origin_ = "the model's tokenizer.chat_template";
  }
  auto detected = DetectChatFormat(source);
  if (detected.ok()) {
    format_ = *detected;
    has_format_ = true;
  }
  if (source.empty()) return detected.error();
  const engine::Tokenizer& tok = model_->tokenizer();
  ChatTemplateTokens tokens{TokenText(tok, tok.bos()), TokenText(tok, tok.eos())};
  auto t = ChatTemplate::Create(source, tokens,
                                o.chat_template.empty() ? "chat template" : o.chat_template);
  if (t.ok()) {
    strip_bos_ = tok.add_bos() && !tokens.bos.empty();
    template_ = std::make_unique<const ChatTemplate>(std::move(*t));
    return Status::Ok();
  }
  if (!o.chat_template.empty()) return t.error();
  if (!has_format_) {
    return Unimplemented("the chat template cannot be used (" + t.error().message() +
                         ") and is none of the built-in formats; name one with chat_format = "
                         "chatml | llama3 | mistral-v7 | mistral | gemma");
  }
  spdlog::warn(
      "{}: the chat template cannot be used ({}); prompts are written in the built-in {} "
      "format",
      path_, t.error().message(), ChatFormatName(format_));
  return Status::Ok();
}

Result<std::unique_ptr<EmbeddedBackend>> EmbeddedBackend::Load(const EmbeddedOptions& o) {
  std::unique_ptr<EmbeddedBackend> b(new EmbeddedBackend());
  b->path_ = o.model_path;
  NAUT_ASSIGN_OR_RETURN(b->model_, engine::Model::Load(o.model_path));
  if (Status st = b->ChoosePromptFormat(o); !st.ok()) return st.WithContext(o.model_path);
  engine::ContextOptions co;
  co.n_ctx = o.context_size > 0 ? o.context_size : 4096;
  co.n_threads = o.threads > 0 ? o.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  NAUT_ASSIGN_OR_RETURN(b->ctx_, engine::Context::Create(*b->model_, co));
  return b;
}

std::string EmbeddedBackend::PromptFormat() const {
  if (template_) return "chat template from " + template_origin_;
  return "chat format " + std::string(ChatFormatName(format_));
}

std::string EmbeddedBackend::Describe() const {
  return "embedded " + path_ + " (" + PromptFormat() + ")";
}

LlmResult<std::string> EmbeddedBackend::Prompt(const ChatRequest& request) const {
  const std::vector<ToolSpec> no_tools;
  const std::vector<ToolSpec>& tools =
      request.tool_choice.mode == ToolChoice::Mode::kNone ? no_tools : request.tools;
  if (template_) {
    auto text = template_->Apply(request.messages, tools);
    if (text.ok()) {
      // The tokenizer adds BOS itself; the template's own copy would make two.
      const std::string& bos = template_->tokens().bos;
      if (strip_bos_ && text->compare(0, bos.size(), bos) == 0) text->erase(0, bos.size());
      return std::move(*text);
    }
    if (!has_format_) {
      return Error(LlmError::Kind::kBadRequest, template_origin_ + ": " + text.error().message());
    }
    spdlog::warn(
        "{}: the chat template refuses this chat ({}); writing it in the built-in {} format", path_,
        text.error().message(), ChatFormatName(format_));
  }
  return RenderChat(format_, request.messages, tools);
}

ChatResult EmbeddedBackend::Chat(const ChatRequest& request, const CallOptions& options) {
  const auto t0 = Clock::now();
  if (request.messages.empty()) return Error(LlmError::Kind::kBadRequest, "no messages");
  if (request.response_format.type != ResponseFormat::Type::kText) {
    return Error(LlmError::Kind::kBadRequest,
                 "the embedded engine cannot constrain output to JSON yet (response_format)");
  }
  LlmResult<std::string> prompt = Prompt(request);
  if (!prompt.ok()) return prompt.error();
  const engine::Tokenizer& tok = model_->tokenizer();
  std::vector<engine::TokenId> ids =
      tok.Tokenize(*prompt, /*add_special=*/true, /*parse_special=*/true);

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
