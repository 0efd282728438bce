#include "llm/embedded_backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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

Result<std::unique_ptr<EmbeddedBackend>> EmbeddedBackend::Load(const EmbeddedOptions& o) {
  std::unique_ptr<EmbeddedBackend> b(new EmbeddedBackend());
  b->path_ = o.model_path;
  b->constrain_tool_calls_ = o.constrain_tool_calls;
  if (o.slots < 1 || o.slots > kMaxSlots) {
    return InvalidArgument("embedded engine: slots must be 1.." + std::to_string(kMaxSlots) +
                           ", got " + std::to_string(o.slots));
  }
  NAUT_ASSIGN_OR_RETURN(b->model_, engine::Model::Load(o.model_path));
  if (b->model_->embedding_only()) {
    return InvalidArgument("embedded engine: " + o.model_path + " is an embedding model (" +
                           b->model_->params().arch_name +
                           "); it cannot chat. Set it as [embeddings] model with backend = "
                           "\"embedded\", and [llm] model to an instruct model");
  }
  auto writer = PromptWriter::Create(*b->model_, o.chat_format, o.chat_template, o.model_path);
  if (!writer.ok()) return writer.error().WithContext(o.model_path);
  b->writer_ = std::move(*writer);
  engine::ContextOptions& co = b->context_options_;
  co.n_ctx = o.context_size > 0 ? o.context_size : 8192;
  co.kv_type = o.kv_type;
  co.n_threads = o.threads > 0 ? o.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  MutexLock lock(b->mu_);
  b->slots_.resize(static_cast<size_t>(o.slots));
  b->slot_count_ = o.slots;
  NAUT_ASSIGN_OR_RETURN(b->slots_[0].ctx, engine::Context::Create(*b->model_, co));
  b->context_size_ = b->slots_[0].ctx->n_ctx();
  return b;
}

std::string EmbeddedBackend::PromptFormat() const { return writer_->Describe(); }

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
  auto text = writer_->Prompt(request);
  if (!text.ok()) return Error(LlmError::Kind::kBadRequest, text.error().message());
  return std::move(*text);
}

LlmResult<std::optional<OutputGrammar>> EmbeddedBackend::OutputGrammarFor(
    const ChatRequest& request) {
  auto g = writer_->OutputGrammarFor(request, /*parallel_tool_calls=*/false, constrain_tool_calls_);
  if (!g.ok()) return Error(LlmError::Kind::kBadRequest, g.error().message());
  return std::move(*g);
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
