#pragma once
// Text generation on a Context: evaluates the prompt with prefix reuse, then samples token by
// token until an end-of-generation token, a stop string, the token limit or the callback says
// stop. Text reaches the callback only once it cannot be the start of a stop string and
// holds no partial UTF-8 sequence, so what is streamed is exactly what is returned.
// This is the layer a ChatModel adapter drives; it runs on the caller's thread.

#include <functional>
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

}  // namespace naut::engine
