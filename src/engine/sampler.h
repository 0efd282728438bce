#pragma once
// Token sampling: repetition penalties, then greedy (temperature <= 0) or temperature,
// top-k, top-p and min-p truncation with a seeded generator. One Sampler per generation;
// not thread-safe.
//
// A TokenFilter (a grammar, grammar_matcher.h) restricts the choice the way llama.cpp applies
// its grammar: the token sampled from the unrestricted distribution is asked about first, and
// only when the filter refuses it is the whole vocabulary's mask taken and the choice made
// again among the allowed tokens. Without truncation this draws exactly from the distribution
// restricted to the allowed tokens (a token the filter allows is drawn either on the first try,
// with probability p, or on the second, with probability (1 - P_allowed) p / P_allowed), and the
// usual case, a model that writes what the grammar wants, costs one check a token.

#include <cstdint>
#include <random>
#include <vector>

#include "engine/tokenizer.h"

namespace naut::engine {

struct SamplingParams {
  float temperature = 0.8f;     // <= 0: greedy
  int top_k = 40;               // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; divides positive logits, multiplies negative ones
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0;
};

// A token set as bits, one per token id.
struct TokenMask {
  std::vector<uint64_t> bits;
  void Reset(int32_t n) { bits.assign((static_cast<size_t>(n) + 63) / 64, 0); }
  bool Has(TokenId id) const {
    return ((bits[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1) != 0;
  }
  void Add(TokenId id) { bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); }
};

class TokenFilter {
 public:
  virtual ~TokenFilter() = default;
  virtual bool Allows(TokenId id) = 0;
  // Every allowed token; valid until the next call on the filter.
  virtual const TokenMask& Allowed() = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : p_(params), rng_(params.seed) {}
  // `history`: prompt and generated tokens so far (the penalties look at its tail). With a
  // filter, -1 when it allows no token at all.
  TokenId Sample(const float* logits, int64_t n_vocab, const std::vector<TokenId>& history,
                 TokenFilter* filter = nullptr);

 private:
  // cand_ from the logits with the penalties applied.
  void Prepare(const float* logits, int64_t n_vocab, const std::vector<TokenId>& history);
  // Greedy or truncated sampling over cand_ (which it reorders and shrinks).
  TokenId Pick();

  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, TokenId>> cand_;
};

}  // namespace naut::engine
