#pragma once
// Token sampling: repetition penalties, then greedy (temperature <= 0) or temperature,
// top-k, top-p and min-p truncation with a seeded generator. One Sampler per generation;
// not thread-safe.

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

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : p_(params), rng_(params.seed) {}
  // `history`: prompt and generated tokens so far (the penalties look at its tail).
  TokenId Sample(const float* logits, int64_t n_vocab, const std::vector<TokenId>& history);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, TokenId>> cand_;
};

}  // namespace naut::engine
