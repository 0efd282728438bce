#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace naut::engine {

TokenId Sampler::Sample(const float* logits, int64_t n_vocab, const std::vector<TokenId>& history,
                        TokenFilter* filter) {
  Prepare(logits, n_vocab, history);
  const TokenId first = Pick();
  if (filter == nullptr || filter->Allows(first)) return first;
  const TokenMask& allowed = filter->Allowed();
  Prepare(logits, n_vocab, history);
  std::erase_if(cand_, [&](const auto& c) { return !allowed.Has(c.second); });
  if (cand_.empty()) return -1;
  return Pick();
}

void Sampler::Prepare(const float* logits, int64_t n_vocab, const std::vector<TokenId>& history) {
  cand_.resize(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], static_cast<TokenId>(i)};
  const bool penalize =
      p_.repeat_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f;
  if (penalize && p_.repeat_last_n != 0) {
    size_t n =
        p_.repeat_last_n < 0 ? history.size() : std::min<size_t>(history.size(), p_.repeat_last_n);
    std::unordered_map<TokenId, int> counts;
    for (size_t i = history.size() - n; i < history.size(); ++i) ++counts[history[i]];
    for (auto [id, count] : counts) {
      if (id < 0 || id >= n_vocab) continue;
      float& l = cand_[id].first;
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
      l -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
    }
  }
}

TokenId Sampler::Pick() {
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (p_.temperature <= 0.0f) {
    return std::min_element(cand_.begin(), cand_.end(), by_logit)->second;
  }
  size_t k = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < k) k = static_cast<size_t>(p_.top_k);
  std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(k), cand_.end(),
                    by_logit);
  cand_.resize(k);
  // Softmax at the temperature.
  const float mx = cand_[0].first;
  double sum = 0;
  std::vector<double> prob(k);
  for (size_t i = 0; i < k; ++i)
    sum += (prob[i] = std::exp((cand_[i].first - mx) / p_.temperature));
  for (auto& v : prob) v /= sum;
  size_t keep = k;
  if (p_.min_p > 0.0f) {
    const double floor = prob[0] * p_.min_p;
    size_t i = 1;
    while (i < keep && prob[i] >= floor) ++i;
    keep = i;
  }
  if (p_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += prob[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  std::discrete_distribution<size_t> dist(prob.begin(),
                                          prob.begin() + static_cast<std::ptrdiff_t>(keep));
  return cand_[dist(rng_)].second;
}

}  // namespace naut::engine
