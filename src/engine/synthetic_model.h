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
  // llama | qwen2 (q/k/v biases) | qwen3 (q/k norms) | qwen2moe (biases, shared expert) |
  // qwen3moe (q/k norms)
  std::string arch = "llama";
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
  // Mixture of experts (n_expert > 0; required for the qwen*moe archs): expert_count,
  // expert_used_count, expert_feed_forward_length (n_ff_exp, when > 0) and, for qwen2moe,
  // expert_shared_feed_forward_length (n_ff_shexp, when > 0), with the router, stacked expert
  // tensors and shared expert in place of the dense FFN. Experts use `type`; the router F32.
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_ff_shexp = 0;
};

// The spec as a JSON object and back (the fields above by name; types by ggml name, "Q4_K").
// Unknown fields and out-of-range sizes are refused.
Json SyntheticSpecToJson(const SyntheticModelSpec& spec);
Result<SyntheticModelSpec> SyntheticSpecFromJson(const Json& j);

// Builds the model in a writer (call WriteTo or ToBytes). The vocabulary is SPM-style:
// <unk> <s> </s>, the 256 byte tokens, then generated pieces.
GgufWriter BuildSyntheticModel(const SyntheticModelSpec& spec);

}  // namespace naut::engine
