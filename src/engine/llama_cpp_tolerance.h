#pragma once
// How closely the engine's probabilities must follow llama.cpp's, for the tests that compare
// them (reference_test.cc, real_model_test.cc). The figures are the ones the conformance README
// (section 4) states and measures; header-only, used by tests, not by the engine.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/gguf.h"

namespace naut::engine {

// The softmax of raw logits over the whole vocabulary, in double.
inline std::vector<double> Softmax(const float* logits, int64_t n) {
  double mx = -1e300;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (p[i] = std::exp(logits[i] - mx));
  for (auto& v : p) v /= sum;
  return p;
}

// |p_ours - p_llama.cpp| <= rel * p_llama.cpp + abs.
struct Tolerance {
  double rel, abs;
  double Of(double p) const { return rel * p + abs; }
};

// `exact`: the reference was made without flash attention and with an F32 KV cache. `top1`: the
// reference's largest probability at that position.
inline Tolerance ToleranceFor(const GgufFile& f, bool exact, double top1) {
  bool quantized = false, all_f32 = true, bf16 = false;
  for (const auto& t : f.tensors()) {
    if (t.dims.size() < 2) continue;
    if (t.type != GgmlType::kF32) all_f32 = false;
    if (t.type == GgmlType::kBF16) bf16 = true;
    if (t.type != GgmlType::kF32 && t.type != GgmlType::kF16 && t.type != GgmlType::kBF16)
      quantized = true;
  }
  // Quantized: llama.cpp quantizes activations to 8 bits, which moves a peaked (trained)
  // distribution by up to 0.06 absolute and a flat random one by up to 5 %.
  if (quantized) return {0.05, top1 > 0.05 ? 0.06 : 0.0};
  if (!exact) return {0.03, 1e-9};  // F16 KV cache and flash attention: about 1.5 %
  // llama.cpp rounds activations to the weights' 16-bit type: F16 keeps 11 significant bits
  // (about 5e-4 relative), BF16 only 8 (4e-3); observed up to 2.6e-3 on the own BF16 model.
  return {all_f32 ? 1e-4 : (bf16 ? 1e-2 : 2e-3), 1e-9};
}

}  // namespace naut::engine
