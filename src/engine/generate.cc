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

Result<GenerateResult> Generate(Context& ctx, const std::vector<TokenId>& prompt,
                                const GenerateOptions& o) {
  using Clock = std::chrono::steady_clock;
  GenerateResult res;
  res.n_prompt = static_cast<int>(prompt.size());
  const Model& model = ctx.model();
  const Tokenizer& tok = model.tokenizer();
  const int64_t nv = model.params().n_vocab;
  auto t0 = Clock::now();
  auto reused = ctx.EvalPrompt(prompt, o.cancelled);
  if (!reused && reused.error().code() == Code::kCancelled) {
    res.stop_reason = "cancelled";
    return res;
  }
  NAUT_ASSIGN_OR_RETURN(res.n_reused, std::move(reused));
  auto t1 = Clock::now();
  res.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();

  Sampler sampler(o.sampling);
  std::unique_ptr<TokenVocabulary> own_vocab;
  std::unique_ptr<GrammarConstraint> constraint;
  const TokenVocabulary* vocab = o.vocabulary;
  if (o.grammar != nullptr) {
    if (vocab == nullptr) {
      own_vocab = TokenVocabulary::Build(tok);
      vocab = own_vocab.get();
    }
    constraint = std::make_unique<GrammarConstraint>(*o.grammar, *vocab, o.grammar_triggers);
    if (!constraint->error().ok()) return constraint->error();
  }
  std::vector<TokenId> history = prompt;
  std::string pending;  // generated but not yet emitted
  auto emit = [&](size_t n) -> bool {
    if (n == 0) return true;
    std::string_view out(pending.data(), n);
    res.text.append(out);
    bool go_on = !o.on_text || o.on_text(out);
    pending.erase(0, n);
    return go_on;
  };
  std::vector<TokenId> one(1);
  while (true) {
    if (static_cast<int>(res.tokens.size()) >= o.max_tokens) {
      res.stop_reason = "length";
      break;
    }
    const auto s0 = Clock::now();
    TokenId id = sampler.Sample(ctx.logits(0), nv, history, constraint.get());
    if (constraint) {
      if (!constraint->error().ok()) return constraint->error();
      if (id < 0) {
        return FailedPrecondition("grammar: no token of the vocabulary can continue the text here");
      }
      if (!constraint->Accept(id)) {
        if (!constraint->error().ok()) return constraint->error();
        return Internal("grammar: the sampled token does not fit the grammar");
      }
      res.grammar_active = constraint->active();
      res.grammar_complete = constraint->complete();
      res.grammar_full_masks = constraint->full_masks();
    }
    res.sample_seconds += std::chrono::duration<double>(Clock::now() - s0).count();
    if (o.stop_at_eog && tok.IsEog(id)) {
      res.stop_reason = "eog";
      break;
    }
    res.tokens.push_back(id);
    history.push_back(id);
    if (vocab != nullptr && vocab->IsText(id)) {
      pending += vocab->Bytes(id);  // a control token the grammar writes as text
    } else {
      pending += tok.Piece(id);
    }
    // A stop string ends the text right before it; not in text an active grammar governs,
    // where the grammar says where the text ends (a stop inside a call would cut it).
    const bool governed = constraint && constraint->active();
    size_t cut = std::string::npos;
    for (const auto& s : o.stop) {
      if (s.empty() || governed) continue;
      size_t at = pending.find(s);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      pending.resize(cut);
      emit(pending.size());
      res.stop_reason = "stop";
      break;
    }
    // Keep back what could still become a stop string or is an incomplete character.
    size_t safe = CompleteUtf8(pending);
    for (const auto& s : o.stop) {
      if (s.empty() || governed) continue;
      for (size_t k = std::min(s.size() - 1, pending.size()); k > 0; --k) {
        if (pending.compare(pending.size() - k, k, s, 0, k) == 0) {
          safe = std::min(safe, pending.size() - k);
          break;
        }
      }
    }
    if (!emit(safe)) {
      res.stop_reason = "cancelled";
      break;
    }
    if (ctx.n_past() >= ctx.n_ctx()) {
      res.stop_reason = "context";
      break;
    }
    one[0] = id;
    NAUT_RETURN_IF_ERROR(ctx.Eval(one));
  }
  if (res.stop_reason != "stop" && res.stop_reason != "cancelled") emit(pending.size());
  res.gen_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return res;
}

}  // namespace naut::engine
