#include "llm/embedded_backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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

constexpr int kMaxSlots = 64;

// A slot's cache is worth keeping for a prompt that shares at least this many leading tokens
// with it (or all of its tokens, when the prompt is shorter). Every prompt without a system
// message of its own starts with the chat template's default preamble (Qwen2.5:
// "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. ...<|im_end|>\n<|im_start|>user\n",
// 24 tokens), so sharing less says nothing about two prompts belonging together; taking that
// slot would throw away a cache of perhaps thousands of tokens to save evaluating a few dozen
// (well under a second), when the least recently used slot is the better one to give up.
constexpr size_t kMinReusedPrefix = 32;

size_t CommonPrefix(const std::vector<engine::TokenId>& a, const std::vector<engine::TokenId>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                             a.begin());
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
    tool_style_ = ToolCallStyleOf(format_);
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
    tool_style_ = ToolCallStyleOf(format_);
  }
  if (source.empty()) return detected.error();
  const engine::Tokenizer& tok = model_->tokenizer();
  ChatTemplateTokens tokens{TokenText(tok, tok.bos()), TokenText(tok, tok.eos())};
  auto t = ChatTemplate::Create(source, tokens,
                                o.chat_template.empty() ? "chat template" : o.chat_template);
  if (t.ok()) {
    strip_bos_ = tok.add_bos() && !tokens.bos.empty();
    tool_style_ = ToolCallStyleOfTemplate(source, t->capabilities().tools);
    reasoning_ = source.find("<think>") != std::string::npos;
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
  b->constrain_tool_calls_ = o.constrain_tool_calls;
  if (o.slots < 1 || o.slots > kMaxSlots) {
    return InvalidArgument("embedded engine: slots must be 1.." + std::to_string(kMaxSlots) +
                           ", got " + std::to_string(o.slots));
  }
  NAUT_ASSIGN_OR_RETURN(b->model_, engine::Model::Load(o.model_path));
  if (Status st = b->ChoosePromptFormat(o); !st.ok()) return st.WithContext(o.model_path);
  engine::ContextOptions& co = b->context_options_;
  co.n_ctx = o.context_size > 0 ? o.context_size : 8192;
  co.n_threads = o.threads > 0 ? o.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  MutexLock lock(b->mu_);
  b->slots_.resize(static_cast<size_t>(o.slots));
  b->slot_count_ = o.slots;
  NAUT_ASSIGN_OR_RETURN(b->slots_[0].ctx, engine::Context::Create(*b->model_, co));
  b->context_size_ = b->slots_[0].ctx->n_ctx();
  return b;
}

std::string EmbeddedBackend::PromptFormat() const {
  if (template_) return "chat template from " + template_origin_;
  return "chat format " + std::string(ChatFormatName(format_));
}

std::string EmbeddedBackend::Describe() const {
  return "embedded " + path_ + " (" + PromptFormat() + ")";
}

Result<EmbeddedBackend::Slot*> EmbeddedBackend::ChooseSlot(
    const std::vector<engine::TokenId>& prompt) {
  size_t best = 0, best_common = 0, lru = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.last_used < slots_[lru].last_used) lru = i;
    if (!s.ctx) continue;
    const std::vector<engine::TokenId>& cached = s.ctx->cached_tokens();
    const size_t common = CommonPrefix(cached, prompt);
    // Of two slots that share as much, the one holding less else loses less.
    if (common > best_common ||
        (common == best_common && cached.size() < slots_[best].ctx->cached_tokens().size())) {
      best = i;
      best_common = common;
    }
  }
  const bool worth_keeping =
      best_common > 0 && best_common >= std::min(kMinReusedPrefix, prompt.size());
  Slot& slot = slots_[worth_keeping ? best : lru];
  if (!slot.ctx) {
    NAUT_ASSIGN_OR_RETURN(slot.ctx, engine::Context::Create(*model_, context_options_));
  }
  slot.last_used = ++calls_;
  spdlog::debug("{}: slot {} of {} ({} of the prompt's {} tokens cached there)", path_,
                &slot - slots_.data(), slots_.size(), worth_keeping ? best_common : 0,
                prompt.size());
  return &slot;
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

LlmResult<std::optional<OutputGrammar>> EmbeddedBackend::OutputGrammarFor(
    const ChatRequest& request) {
  const bool tools = !request.tools.empty() && request.tool_choice.mode != ToolChoice::Mode::kNone;
  const bool forced = request.tool_choice.mode == ToolChoice::Mode::kRequired ||
                      request.tool_choice.mode == ToolChoice::Mode::kFunction;
  if (request.response_format.type != ResponseFormat::Type::kText) {
    if (tools && forced) {
      return Error(LlmError::Kind::kBadRequest,
                   "response_format and a required tool call cannot both be forced");
    }
    auto g = ResponseFormatGrammar(request.response_format);
    if (!g.ok()) return Error(LlmError::Kind::kBadRequest, g.error().message());
    return std::optional<OutputGrammar>(std::move(*g));
  }
  if (!tools || !constrain_tool_calls_) return std::optional<OutputGrammar>();
  auto g =
      ToolCallGrammar(request.tools, request.tool_choice, tool_style_, {.reasoning = reasoning_});
  if (g.ok()) {
    for (const std::string& note : g->notes) spdlog::debug("{}: {}", path_, note);
    return std::optional<OutputGrammar>(std::move(*g));
  }
  if (g.error().code() == Code::kUnimplemented && !forced) {
    if (!told_unconstrained_.exchange(true)) {
      spdlog::warn("{}: tool calls are not constrained: {}", path_, g.error().message());
    }
    return std::optional<OutputGrammar>();
  }
  return Error(LlmError::Kind::kBadRequest,
               (forced ? "tool_choice cannot be enforced: " : "") + g.error().message());
}

LlmResult<std::pair<const engine::Grammar*, const engine::TokenVocabulary*>>
EmbeddedBackend::Constraint(const OutputGrammar& grammar) {
  if (!grammar_ || grammar_text_ != grammar.gbnf) {
    auto g = engine::Grammar::Parse(grammar.gbnf);
    if (!g.ok()) return Error(LlmError::Kind::kBadRequest, g.error().message());
    grammar_ = std::make_unique<engine::Grammar>(std::move(*g));
    grammar_text_ = grammar.gbnf;
  }
  std::string key;
  for (const std::string& s : grammar.special_text) key += s + "\n";
  auto& vocab = vocabularies_[key];
  if (!vocab) vocab = engine::TokenVocabulary::Build(model_->tokenizer(), grammar.special_text);
  return std::make_pair(static_cast<const engine::Grammar*>(grammar_.get()),
                        static_cast<const engine::TokenVocabulary*>(vocab.get()));
}

ChatResult EmbeddedBackend::Chat(const ChatRequest& request, const CallOptions& options) {
  const auto t0 = Clock::now();
  if (request.messages.empty()) return Error(LlmError::Kind::kBadRequest, "no messages");
  auto output_grammar = OutputGrammarFor(request);
  if (!output_grammar.ok()) return output_grammar.error();
  LlmResult<std::string> prompt = Prompt(request);
  if (!prompt.ok()) return prompt.error();
  const engine::Tokenizer& tok = model_->tokenizer();
  std::vector<engine::TokenId> ids =
      tok.Tokenize(*prompt, /*add_special=*/true, /*parse_special=*/true);

  if (static_cast<int>(ids.size()) >= context_size_) {
    return Error(LlmError::Kind::kContextLengthExceeded,
                 "the prompt has " + std::to_string(ids.size()) + " tokens; the context holds " +
                     std::to_string(context_size_));
  }
  MutexLock lock(mu_);
  auto slot = ChooseSlot(ids);
  if (!slot.ok()) return Error(LlmError::Kind::kServer, slot.error().ToString());
  engine::Context& ctx = *(*slot)->ctx;
  engine::GenerateOptions g;
  const Sampling& s = request.sampling;
  if (s.temperature) g.sampling.temperature = static_cast<float>(*s.temperature);
  if (s.top_p) g.sampling.top_p = static_cast<float>(*s.top_p);
  if (s.top_k) g.sampling.top_k = *s.top_k;
  if (s.min_p) g.sampling.min_p = static_cast<float>(*s.min_p);
  if (s.repeat_penalty) g.sampling.repeat_penalty = static_cast<float>(*s.repeat_penalty);
  if (s.seed) g.sampling.seed = static_cast<uint64_t>(*s.seed);
  g.max_tokens = s.max_tokens ? *s.max_tokens : context_size_ - static_cast<int>(ids.size());
  g.stop = request.stop;
  if (*output_grammar) {
    auto c = Constraint(**output_grammar);
    if (!c.ok()) return c.error();
    g.grammar = c->first;
    g.vocabulary = c->second;
    g.grammar_triggers = (*output_grammar)->triggers;
  }
  double first_ms = 0;
  g.cancelled = [&] { return options.cancel.stop_requested(); };
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
  auto r = engine::Generate(ctx, ids, g);
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
