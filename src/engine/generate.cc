#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <memory>

namespace naut::engine {

namespace {

// Length of the longest prefix of `s` that ends on a complete UTF-8 sequence.
size_t CompleteUtf8(std::string_view s) {
  size_t i = s.size();
  size_t back = 0;
  while (i > 0 && back < 4) {
    unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {
      size_t need = c < 0x80             ? 1
                    : (c & 0xE0) == 0xC0 ? 2
                    : (c & 0xF0) == 0xE0 ? 3
                    : (c & 0xF8) == 0xF0 ? 4
                                         : 1;
      return (back + 1 >= need) ? s.size() : i - 1;
    }
    --i;
    ++back;
  }
  return s.size();
}

}  // namespace

Generation::Generation(const Model& model, std::vector<TokenId> prompt, GenerateOptions options)
    : tok_(model.tokenizer()),
      n_vocab_(model.params().n_vocab),
      o_(std::move(options)),
      sampler_(o_.sampling),
      vocab_(o_.vocabulary),
      history_(std::move(prompt)) {
  if (o_.grammar != nullptr) {
    if (vocab_ == nullptr) {
      own_vocab_ = TokenVocabulary::Build(tok_);
      vocab_ = own_vocab_.get();
    }
    constraint_ = std::make_unique<GrammarConstraint>(*o_.grammar, *vocab_, o_.grammar_triggers);
    status_ = constraint_->error();
  }
}

bool Generation::Emit(size_t n) {
  if (n == 0) return true;
  std::string_view out(pending_.data(), n);
  res_.text.append(out);
  bool go_on = !o_.on_text || o_.on_text(out);
  pending_.erase(0, n);
  return go_on;
}

void Generation::Finish(const char* reason) {
  res_.stop_reason = reason;
  done_ = true;
  if (res_.stop_reason != "stop" && res_.stop_reason != "cancelled") Emit(pending_.size());
}

Result<std::optional<TokenId>> Generation::Next(const float* logits, bool context_full) {
  using Clock = std::chrono::steady_clock;
  if (done_) return std::optional<TokenId>();
  if (static_cast<int>(res_.tokens.size()) >= o_.max_tokens) {
    Finish("length");
    return std::optional<TokenId>();
  }
  const auto s0 = Clock::now();
  TokenId id = sampler_.Sample(logits, n_vocab_, history_, constraint_.get());
  if (constraint_) {
    if (!constraint_->error().ok()) return constraint_->error();
    if (id < 0) {
      return FailedPrecondition("grammar: no token of the vocabulary can continue the text here");
    }
    if (!constraint_->Accept(id)) {
      if (!constraint_->error().ok()) return constraint_->error();
      return Internal("grammar: the sampled token does not fit the grammar");
    }
    res_.grammar_active = constraint_->active();
    res_.grammar_complete = constraint_->complete();
    res_.grammar_full_masks = constraint_->full_masks();
  }
  res_.sample_seconds += std::chrono::duration<double>(Clock::now() - s0).count();
  if (o_.stop_at_eog && tok_.IsEog(id)) {
    Finish("eog");
    return std::optional<TokenId>();
  }
  res_.tokens.push_back(id);
  history_.push_back(id);
  if (vocab_ != nullptr && vocab_->IsText(id)) {
    pending_ += vocab_->Bytes(id);  // a control token the grammar writes as text
  } else {
    pending_ += tok_.Piece(id);
  }
  // A stop string ends the text right before it; not in text an active grammar governs,
  // where the grammar says where the text ends (a stop inside a call would cut it).
  const bool governed = constraint_ && constraint_->active();
  size_t cut = std::string::npos;
  for (const auto& s : o_.stop) {
    if (s.empty() || governed) continue;
    size_t at = pending_.find(s);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    pending_.resize(cut);
    Emit(pending_.size());
    Finish("stop");
    return std::optional<TokenId>();
  }
  // Keep back what could still become a stop string or is an incomplete character.
  size_t safe = CompleteUtf8(pending_);
  for (const auto& s : o_.stop) {
    if (s.empty() || governed) continue;
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > 0; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        safe = std::min(safe, pending_.size() - k);
        break;
      }
    }
  }
  if (!Emit(safe)) {
    Finish("cancelled");
    return std::optional<TokenId>();
  }
  if (context_full) {
    Finish("context");
    return std::optional<TokenId>();
  }
  return std::optional<TokenId>(id);
}

Result<GenerateResult> Generate(Context& ctx, const std::vector<TokenId>& prompt,
                                const GenerateOptions& o) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto reused = ctx.EvalPrompt(prompt, o.cancelled);
  if (!reused && reused.error().code() == Code::kCancelled) {
    GenerateResult res;
    res.n_prompt = static_cast<int>(prompt.size());
    res.stop_reason = "cancelled";
    return res;
  }
  NAUT_RETURN_IF_ERROR(reused.status());
  auto t1 = Clock::now();
  Generation gen(ctx.model(), prompt, o);
  NAUT_RETURN_IF_ERROR(gen.status());
  std::vector<TokenId> one(1);
  while (true) {
    NAUT_ASSIGN_OR_RETURN(std::optional<TokenId> next,
                          gen.Next(ctx.logits(0), ctx.n_past() >= ctx.n_ctx()));
    if (!next) break;
    one[0] = *next;
    NAUT_RETURN_IF_ERROR(ctx.Eval(one));
  }
  GenerateResult res = std::move(gen.result());
  res.n_prompt = static_cast<int>(prompt.size());
  res.n_reused = *reused;
  res.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  res.gen_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return res;
}

}  // namespace naut::engine
