#pragma once
// Text generation on a Context: evaluates the prompt with prefix reuse, then samples token by
// token until an end-of-generation token, a stop string, the token limit or the callback says
// stop. Text reaches the callback only once it cannot be the start of a stop string and
// holds no partial UTF-8 sequence, so what is streamed is exactly what is returned.
// This is the layer a ChatModel adapter drives; it runs on the caller's thread.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/model.h"
#include "engine/sampler.h"

namespace naut::engine {

struct GenerateOptions {
  int max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // generation ends before the first occurrence of any
  bool stop_at_eog = true;
  // Receives text as it becomes final; return false to stop (stop_reason "cancelled").
  std::function<bool(std::string_view text)> on_text;
  // Asked between batches of the prompt's evaluation; true stops there (stop_reason
  // "cancelled").
  std::function<bool()> cancelled;
  // Constrained decoding (grammar_matcher.h): only text the grammar admits is sampled, and
  // the generation ends (end-of-generation token) only where the grammar can end. With
  // triggers the grammar is lazy: free text until a trigger appears, the grammar from the
  // trigger on. Stop strings are not looked for in text the grammar governs (the grammar
  // says where it ends). `vocabulary` is the model's TokenVocabulary (built for this call when
  // null; building it costs tens of milliseconds on a large vocabulary, so callers keep one).
  const Grammar* grammar = nullptr;
  std::vector<std::string> grammar_triggers;
  const TokenVocabulary* vocabulary = nullptr;
};

struct GenerateResult {
  std::string text;
  std::vector<TokenId> tokens;
  std::string stop_reason;  // "eog", "stop", "length", "context", "cancelled"
  // With a grammar: whether it applied (from the start, or since a trigger), and whether the
  // text it applied to is a complete match.
  bool grammar_active = false;
  bool grammar_complete = false;
  int grammar_full_masks = 0;  // tokens for which the sampler's first choice was refused
  int n_prompt = 0;
  int n_reused = 0;  // prompt tokens served from the KV cache
  double prompt_seconds = 0;
  double gen_seconds = 0;
  double sample_seconds = 0;  // part of gen_seconds spent choosing tokens (grammar included)
};

Result<GenerateResult> Generate(Context& ctx, const std::vector<TokenId>& prompt,
                                const GenerateOptions& options);

// One generation driven a token at a time by a caller that evaluates the tokens itself (a
// server decoding several generations in one forward pass, Context::EvalSeqs); Generate() is
// this class over one Context. Sampling, the grammar, stop strings and what reaches on_text
// are exactly Generate's. `options.cancelled` is not asked (the caller evaluates the prompt).
// One thread; `model` and the options' grammar and vocabulary must outlive it.
class Generation {
 public:
  Generation(const Model& model, std::vector<TokenId> prompt, GenerateOptions options);
  // Ok, or why the grammar cannot be used; Next must not be called then.
  const Status& status() const { return status_; }
  // Chooses the token after `logits` (those of the last token evaluated: the prompt's, then
  // each one Next returned). Returns the token to evaluate before the next call, or nullopt
  // once the generation has ended (result().stop_reason says why). `context_full`: the
  // sequence has no room for another token. Errors come from the grammar.
  Result<std::optional<TokenId>> Next(const float* logits, bool context_full);
  bool done() const { return done_; }
  // Text, tokens, stop reason and the grammar's figures; the caller fills in the prompt's.
  GenerateResult& result() { return res_; }

 private:
  // Sends the first `n` pending bytes to on_text; false when it says stop.
  bool Emit(size_t n);
  void Finish(const char* reason);

  const Tokenizer& tok_;
  int64_t n_vocab_ = 0;
  GenerateOptions o_;
  Status status_;
  Sampler sampler_;
  std::unique_ptr<TokenVocabulary> own_vocab_;
  std::unique_ptr<GrammarConstraint> constraint_;
  const TokenVocabulary* vocab_ = nullptr;
  std::vector<TokenId> history_;
  std::string pending_;  // generated but not yet emitted
  GenerateResult res_;
  bool done_ = false;
};

}  // namespace naut::engine
