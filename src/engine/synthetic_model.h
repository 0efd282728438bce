#pragma once
// Random-weight GGUF models of the supported architectures, for tests and benchmarks. The
// weights are drawn from a seeded normal distribution (std 0.02, norms 1), quantized to the
// requested type; `dequantized_twin` instead stores those same quantized weights expanded to
// F32, which gives the plain float reference the quantized kernels are checked against.

#include <cstdint>
#include <string>

#include "core/json.h"
#include "core/status.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"

namespace naut::engine {

struct SyntheticModelSpec {
  std::string arch = "llama";  // llama | qwen2 (q/k/v biases) | qwen3 (q/k norms)
  int64_t n_vocab = 512, n_embd = 256, n_ff = 512, n_layer = 2, n_head = 8, n_head_kv = 4;
  int64_t n_ctx = 2048;
  GgmlType type = GgmlType::kF32;         // every 2-D weight
  GgmlType output_type = GgmlType::kF32;  // output.weight
  bool tied_output = false;
  uint64_t seed = 1;
  bool dequantized_twin = false;
  // 0 keeps every norm weight exactly 1; otherwise they are 1 + N(0, norm_std), so a forward
  // pass that skips or misplaces a norm weight shows.
  float norm_std = 0.0f;
  float bias_std = 0.02f;  // qwen2's q/k/v biases
  // RoPE scaling metadata, written only when rope_scaling is set: rope.scaling.type, .factor,
  // .original_context_length (when > 0) and .attn_factor (when > 0).
  std::string rope_scaling;
  float rope_factor = 0.0f;
  int64_t rope_orig_ctx = 0;
  float rope_attn_factor = 0.0f;
};

// The spec as a JSON object and back (the fields above by name; types by ggml name, "Q4_K").
// Unknown fields and out-of-range sizes are refused.
Json SyntheticSpecToJson(const SyntheticModelSpec& spec);
Result<SyntheticModelSpec> SyntheticSpecFromJson(const Json& j);

// Builds the model in a writer (call WriteTo or ToBytes). The vocabulary is SPM-style:
// <unk> <s> </s>, the 256 byte tokens, then generated pieces.
GgufWriter BuildSyntheticModel(const SyntheticModelSpec& spec);

}  // namespace naut::engine
