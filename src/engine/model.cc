#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/quant.h"

namespace naut::engine {

namespace {

// Below this much weight data a product runs on the calling thread alone.
constexpr int64_t kMinParallelBytes = 64 * 1024;
// Weight bytes per work item of a tiled product.
constexpr int64_t kChunkBytes = 48 * 1024;

Result<Weight> GetWeight(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (!t) return NotFound("model: tensor '" + name + "' is missing");
  int64_t r = 1;
  for (size_t d = 1; d < t->dims.size(); ++d) r *= t->dims[d];
  if (t->dims[0] != cols || r != rows) {
    return DataLoss("model: tensor '" + name + "' has shape [" + std::to_string(t->dims[0]) + ", " +
                    std::to_string(r) + "], expected [" + std::to_string(cols) + ", " +
                    std::to_string(rows) + "]");
  }
  if (!IsSupportedType(t->type)) {
    return Unimplemented(
        "model: tensor '" + name + "' has type " + TypeName(t->type) +
        ", which the engine cannot compute with yet (supported: F32 F16 BF16 Q8_0 Q4_0 "
        "Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K)");
  }
  Weight w;
  w.type = t->type;
  w.cols = cols;
  w.rows = rows;
  w.row_bytes = static_cast<size_t>(RowBytes(t->type, cols));
  w.data = t->data;
  return w;
}

Result<std::vector<float>> GetVector(const GgufFile& f, const std::string& name, int64_t n,
                                     bool optional = false) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (!t) {
    if (optional) return std::vector<float>{};
    return NotFound("model: tensor '" + name + "' is missing");
  }
  if (t->n_elements != n) {
    return DataLoss("model: tensor '" + name + "' has " + std::to_string(t->n_elements) +
                    " elements, expected " + std::to_string(n));
  }
  if (!IsSupportedType(t->type))
    return Unimplemented("model: tensor '" + name + "' has unsupported type " + TypeName(t->type));
  std::vector<float> v(static_cast<size_t>(n));
  DequantizeRow(t->type, t->data, v.data(), n);
  return v;
}

// A size the model cannot do without: present, positive and not absurd.
Result<int64_t> PositiveInt(const GgufFile& f, const std::string& key) {
  NAUT_ASSIGN_OR_RETURN(int64_t v, f.GetInt(key));
  if (v <= 0 || v > (1 << 24))
    return DataLoss("model: " + key + " = " + std::to_string(v) + " is out of range");
  return v;
}

}  // namespace

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* y) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

namespace {

// RoPE scaling as llama.cpp reads it: the type defaults to linear, the factor to none (also
// under the old key rope.scale_linear); type none ignores the factor. YaRN's correction
// dimensions come from the original context length (default: the training context) with
// llama.cpp's beta_fast 32 and beta_slow 1.
Status ReadRopeScaling(const GgufFile& f, ModelParams& p) {
  const std::string& a = p.arch_name;
  p.rope_scaling = f.GetStringOr(a + ".rope.scaling.type", "linear");
  double factor = f.GetFloatOr(a + ".rope.scaling.factor", 0.0);
  if (factor == 0.0) factor = f.GetFloatOr(a + ".rope.scale_linear", 0.0);
  if (!std::isfinite(factor) || factor < 0.0 || factor > 1e4) {
    return DataLoss("model: rope scaling factor " + std::to_string(factor) + " is out of range");
  }
  p.n_ctx_orig = f.GetIntOr(a + ".rope.scaling.original_context_length", p.n_ctx_train);
  if (p.n_ctx_orig <= 0 || p.n_ctx_orig > (int64_t{1} << 24)) {
    return DataLoss("model: rope.scaling.original_context_length " + std::to_string(p.n_ctx_orig) +
                    " is out of range");
  }
  const double attn_factor = f.GetFloatOr(a + ".rope.scaling.attn_factor", 1.0);
  if (!std::isfinite(attn_factor) || attn_factor <= 0.0 || attn_factor > 100.0) {
    return DataLoss("model: rope.scaling.attn_factor " + std::to_string(attn_factor) +
                    " is out of range");
  }
  p.rope_freq_scale = factor == 0.0 ? 1.0f : static_cast<float>(1.0 / factor);
  p.rope_mscale = static_cast<float>(attn_factor);
  if (p.rope_scaling == "none") {
    p.rope_freq_scale = 1.0f;
  } else if (p.rope_scaling == "yarn") {
    p.yarn_ext_factor = 1.0f;
    const double scale = 1.0 / p.rope_freq_scale;
    // llama.cpp's attention factor: with a yarn_log_multiplier (mscale_all_dim) the ratio of
    // the two magnitude corrections, else 1; the rotation itself then multiplies in
    // 1 + 0.1 ln(scale).
    auto mscale_of = [](double s, double m) {
      return s <= 1.0 ? 1.0 : 0.1 * m * std::log(s) + 1.0;
    };
    const double log_mul = f.GetFloatOr(a + ".rope.scaling.yarn_log_multiplier", 0.0);
    double factor_c =
        log_mul != 0.0 ? mscale_of(scale, 1.0) / mscale_of(scale, log_mul) : mscale_of(scale, 1.0);
    factor_c /= 1.0 + 0.1 * std::log(scale);
    p.rope_mscale = static_cast<float>(factor_c * attn_factor * (1.0 + 0.1 * std::log(scale)));
    auto corr_dim = [&](double n_rot) {
      return static_cast<double>(p.n_rot) *
             std::log(static_cast<double>(p.n_ctx_orig) / (n_rot * 2 * M_PI)) /
             (2 * std::log(static_cast<double>(p.rope_base)));
    };
    p.yarn_low = static_cast<float>(std::max(0.0, std::floor(corr_dim(32.0))));
    p.yarn_high =
        static_cast<float>(std::min(static_cast<double>(p.n_rot - 1), std::ceil(corr_dim(1.0))));
  } else if (p.rope_scaling == "longrope") {
    return Unimplemented(
        "model: longrope rope scaling (Phi-3 style) is not supported (none, "
        "linear and yarn are)");
  } else if (p.rope_scaling != "linear") {
    return DataLoss("model: unknown rope scaling type '" + p.rope_scaling +
                    "' (none, linear, yarn)");
  }
  return Status::Ok();
}

}  // namespace

namespace {

// Expert counts as llama.cpp reads them, checked before any tensor is: a qwen*moe file needs
// experts, a llama file may have them (Mixtral); counts out of range are bad data.
Status ReadExperts(const GgufFile& f, ModelParams& p) {
  const std::string& a = p.arch_name;
  const bool moe_arch = p.arch == Arch::kQwen2Moe || p.arch == Arch::kQwen3Moe;
  p.n_expert = f.GetIntOr(a + ".expert_count", 0);
  p.n_expert_used = f.GetIntOr(a + ".expert_used_count", 0);
  if (p.n_expert == 0 && !moe_arch) return Status::Ok();
  if (p.n_expert < 1 || p.n_expert > 512) {
    return DataLoss("model: " + a + ".expert_count = " + std::to_string(p.n_expert) +
                    " is out of range (1..512" + (moe_arch ? ", and " + a + " needs experts" : "") +
                    ")");
  }
  if (p.n_expert_used < 1 || p.n_expert_used > p.n_expert) {
    return DataLoss("model: " + a + ".expert_used_count = " + std::to_string(p.n_expert_used) +
                    " must be 1.." + std::to_string(p.n_expert) + " (the expert count)");
  }
  // Mixtral's experts are n_ff wide; qwen*moe name their width, else n_ff / experts used.
  p.n_ff_exp =
      f.GetIntOr(a + ".expert_feed_forward_length", moe_arch ? p.n_ff / p.n_expert_used : p.n_ff);
  p.n_ff_shexp =
      p.arch == Arch::kQwen2Moe ? f.GetIntOr(a + ".expert_shared_feed_forward_length", p.n_ff) : 0;
  if (p.n_ff_exp < 1 || p.n_ff_exp > (1 << 20) || p.n_ff_shexp < 0 || p.n_ff_shexp > (1 << 20)) {
    return DataLoss("model: expert feed-forward lengths " + std::to_string(p.n_ff_exp) + " / " +
                    std::to_string(p.n_ff_shexp) + " are out of range");
  }
  p.moe_norm_weights = p.arch != Arch::kQwen2Moe;
  p.expert_weights_scale = static_cast<float>(f.GetFloatOr(a + ".expert_weights_scale", 0.0));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Model>> Model::Load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  NAUT_ASSIGN_OR_RETURN(m->file_, GgufFile::Open(path));
  Status s = m->Init();
  if (!s.ok()) return s.WithContext(path);
  return m;
}

Status Model::Init() {
  const GgufFile& f = *file_;
  ModelParams& p = params_;
  NAUT_ASSIGN_OR_RETURN(p.arch_name, f.GetString("general.architecture"));
  const std::string& a = p.arch_name;
  if (a == "llama") {
    p.arch = Arch::kLlama;
  } else if (a == "qwen2") {
    p.arch = Arch::kQwen2;
  } else if (a == "qwen3") {
    p.arch = Arch::kQwen3;
  } else if (a == "qwen2moe") {
    p.arch = Arch::kQwen2Moe;
  } else if (a == "qwen3moe") {
    p.arch = Arch::kQwen3Moe;
  } else if (a == "bert") {
    p.arch = Arch::kBert;
  } else {
    return Unimplemented("model: architecture '" + a +
                         "' is not supported (llama, qwen2, qwen3, qwen2moe, qwen3moe, bert)");
  }
  if (p.arch == Arch::kBert) return InitBert();
  p.rope_neox = p.arch != Arch::kLlama;
  auto need = [&](const std::string& key) { return PositiveInt(f, a + "." + key); };
  NAUT_ASSIGN_OR_RETURN(p.n_embd, need("embedding_length"));
  NAUT_ASSIGN_OR_RETURN(p.n_ff, need("feed_forward_length"));
  NAUT_ASSIGN_OR_RETURN(p.n_layer, need("block_count"));
  NAUT_ASSIGN_OR_RETURN(p.n_head, need("attention.head_count"));
  p.n_head_kv = f.GetIntOr(a + ".attention.head_count_kv", p.n_head);
  if (p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0) {
    return DataLoss("model: head_count " + std::to_string(p.n_head) +
                    " is not a multiple of head_count_kv " + std::to_string(p.n_head_kv));
  }
  p.head_dim = f.GetIntOr(a + ".attention.key_length", p.n_embd / p.n_head);
  if (f.GetIntOr(a + ".attention.value_length", p.head_dim) != p.head_dim) {
    return Unimplemented("model: different key and value head sizes are not supported");
  }
  p.n_rot = f.GetIntOr(a + ".rope.dimension_count", p.head_dim);
  if (p.head_dim <= 0 || p.head_dim > 1024 || p.n_rot <= 0 || p.n_rot > p.head_dim ||
      p.n_rot % 2 != 0) {
    return DataLoss("model: head size " + std::to_string(p.head_dim) + " / rope dimensions " +
                    std::to_string(p.n_rot) + " are inconsistent");
  }
  p.n_ctx_train = f.GetIntOr(a + ".context_length", 4096);
  p.rms_eps = static_cast<float>(f.GetFloatOr(a + ".attention.layer_norm_rms_epsilon", 1e-5));
  p.rope_base = static_cast<float>(f.GetFloatOr(a + ".rope.freq_base", 10000.0));
  NAUT_RETURN_IF_ERROR(ReadRopeScaling(f, p));
  NAUT_RETURN_IF_ERROR(ReadExperts(f, p));

  NAUT_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Create(f));
  p.n_vocab = tokenizer_->n_tokens();
  const GgufTensorInfo* te = f.FindTensor("token_embd.weight");
  if (!te) return NotFound("model: tensor 'token_embd.weight' is missing");
  if (te->dims.size() >= 2) p.n_vocab = te->dims[1];
  if (p.n_vocab != tokenizer_->n_tokens()) {
    return DataLoss("model: token_embd has " + std::to_string(p.n_vocab) +
                    " rows but the vocabulary has " + std::to_string(tokenizer_->n_tokens()) +
                    " tokens");
  }
  const int64_t E = p.n_embd, Dq = p.n_head * p.head_dim, Dkv = p.n_head_kv * p.head_dim;
  NAUT_ASSIGN_OR_RETURN(token_embd_, GetWeight(f, "token_embd.weight", E, p.n_vocab));
  if (f.FindTensor("output.weight")) {
    NAUT_ASSIGN_OR_RETURN(output_, GetWeight(f, "output.weight", E, p.n_vocab));
  } else {
    output_ = token_embd_;  // tied embeddings
  }
  NAUT_ASSIGN_OR_RETURN(output_norm_, GetVector(f, "output_norm.weight", E));
  NAUT_ASSIGN_OR_RETURN(rope_freqs_,
                        GetVector(f, "rope_freqs.weight", p.n_rot / 2, /*optional=*/true));
  layers_.resize(static_cast<size_t>(p.n_layer));
  const bool qk_norm = p.arch == Arch::kQwen3 || p.arch == Arch::kQwen3Moe;
  for (int64_t i = 0; i < p.n_layer; ++i) {
    LayerWeights& L = layers_[static_cast<size_t>(i)];
    const std::string b = "blk." + std::to_string(i) + ".";
    NAUT_ASSIGN_OR_RETURN(L.attn_norm, GetVector(f, b + "attn_norm.weight", E));
    NAUT_ASSIGN_OR_RETURN(L.ffn_norm, GetVector(f, b + "ffn_norm.weight", E));
    NAUT_ASSIGN_OR_RETURN(L.wq, GetWeight(f, b + "attn_q.weight", E, Dq));
    NAUT_ASSIGN_OR_RETURN(L.wk, GetWeight(f, b + "attn_k.weight", E, Dkv));
    NAUT_ASSIGN_OR_RETURN(L.wv, GetWeight(f, b + "attn_v.weight", E, Dkv));
    NAUT_ASSIGN_OR_RETURN(L.wo, GetWeight(f, b + "attn_output.weight", Dq, E));
    if (p.n_expert > 0) {
      const int64_t X = p.n_expert, Fx = p.n_ff_exp;
      NAUT_ASSIGN_OR_RETURN(L.gate_inp, GetWeight(f, b + "ffn_gate_inp.weight", E, X));
      NAUT_ASSIGN_OR_RETURN(L.gate_exps, GetWeight(f, b + "ffn_gate_exps.weight", E, X * Fx));
      NAUT_ASSIGN_OR_RETURN(L.up_exps, GetWeight(f, b + "ffn_up_exps.weight", E, X * Fx));
      NAUT_ASSIGN_OR_RETURN(L.down_exps, GetWeight(f, b + "ffn_down_exps.weight", Fx, X * E));
      if (p.n_ff_shexp > 0) {
        const int64_t S = p.n_ff_shexp;
        NAUT_ASSIGN_OR_RETURN(L.gate_inp_shexp,
                              GetWeight(f, b + "ffn_gate_inp_shexp.weight", E, 1));
        NAUT_ASSIGN_OR_RETURN(L.gate_shexp, GetWeight(f, b + "ffn_gate_shexp.weight", E, S));
        NAUT_ASSIGN_OR_RETURN(L.up_shexp, GetWeight(f, b + "ffn_up_shexp.weight", E, S));
        NAUT_ASSIGN_OR_RETURN(L.down_shexp, GetWeight(f, b + "ffn_down_shexp.weight", S, E));
      }
    } else {
      NAUT_ASSIGN_OR_RETURN(L.gate, GetWeight(f, b + "ffn_gate.weight", E, p.n_ff));
      NAUT_ASSIGN_OR_RETURN(L.up, GetWeight(f, b + "ffn_up.weight", E, p.n_ff));
      NAUT_ASSIGN_OR_RETURN(L.down, GetWeight(f, b + "ffn_down.weight", p.n_ff, E));
    }
    NAUT_ASSIGN_OR_RETURN(L.bq, GetVector(f, b + "attn_q.bias", Dq, true));
    NAUT_ASSIGN_OR_RETURN(L.bk, GetVector(f, b + "attn_k.bias", Dkv, true));
    NAUT_ASSIGN_OR_RETURN(L.bv, GetVector(f, b + "attn_v.bias", Dkv, true));
    NAUT_ASSIGN_OR_RETURN(L.bo, GetVector(f, b + "attn_output.bias", E, true));
    NAUT_ASSIGN_OR_RETURN(L.q_norm, GetVector(f, b + "attn_q_norm.weight", p.head_dim, !qk_norm));
    NAUT_ASSIGN_OR_RETURN(L.k_norm, GetVector(f, b + "attn_k_norm.weight", p.head_dim, !qk_norm));
  }
  if (p.n_expert == 0 && f.FindTensor("blk.0.ffn_gate_inp.weight")) {
    return DataLoss("model: the file has expert tensors but no " + a + ".expert_count");
  }
  for (const auto& t : f.tensors()) n_params_ += t.n_elements;
  return Status::Ok();
}

// A BERT encoder as llama.cpp's `bert` architecture stores it: token, position and token-type
// embeddings with a LayerNorm; per layer q/k/v/output projections with biases, a LayerNorm after
// attention, an FFN (up, GELU, down, with biases) and a LayerNorm after it. No RoPE, no KV cache.
Status Model::InitBert() {
  const GgufFile& f = *file_;
  ModelParams& p = params_;
  const std::string& a = p.arch_name;
  NAUT_ASSIGN_OR_RETURN(p.n_embd, PositiveInt(f, a + ".embedding_length"));
  NAUT_ASSIGN_OR_RETURN(p.n_ff, PositiveInt(f, a + ".feed_forward_length"));
  NAUT_ASSIGN_OR_RETURN(p.n_layer, PositiveInt(f, a + ".block_count"));
  NAUT_ASSIGN_OR_RETURN(p.n_head, PositiveInt(f, a + ".attention.head_count"));
  NAUT_ASSIGN_OR_RETURN(p.n_ctx_train, PositiveInt(f, a + ".context_length"));
  p.n_head_kv = p.n_head;
  if (p.n_embd % p.n_head != 0) {
    return DataLoss("model: embedding_length " + std::to_string(p.n_embd) +
                    " is not a multiple of head_count " + std::to_string(p.n_head));
  }
  p.head_dim = p.n_rot = p.n_embd / p.n_head;
  p.layer_norm_eps = static_cast<float>(f.GetFloatOr(a + ".attention.layer_norm_epsilon", 1e-12));
  if (f.GetBoolOr(a + ".attention.causal", false)) {
    return Unimplemented("model: " + a +
                         ".attention.causal is true; a bert encoder attends both ways");
  }
  NAUT_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Create(f));
  p.n_vocab = tokenizer_->n_tokens();
  const int64_t E = p.n_embd, F = p.n_ff;
  NAUT_ASSIGN_OR_RETURN(token_embd_, GetWeight(f, "token_embd.weight", E, p.n_vocab));
  NAUT_ASSIGN_OR_RETURN(position_embd_, GetWeight(f, "position_embd.weight", E, p.n_ctx_train));
  const GgufTensorInfo* types = f.FindTensor("token_types.weight");
  if (!types) return NotFound("model: tensor 'token_types.weight' is missing");
  NAUT_ASSIGN_OR_RETURN(token_types_, GetWeight(f, "token_types.weight", E,
                                                types->dims.size() >= 2 ? types->dims[1] : 1));
  NAUT_ASSIGN_OR_RETURN(embd_norm_, GetVector(f, "token_embd_norm.weight", E));
  NAUT_ASSIGN_OR_RETURN(embd_norm_b_, GetVector(f, "token_embd_norm.bias", E));
  if (f.FindTensor("blk.0.attn_qkv.weight")) {
    return Unimplemented("model: fused attn_qkv tensors are not supported for bert");
  }
  layers_.resize(static_cast<size_t>(p.n_layer));
  for (int64_t i = 0; i < p.n_layer; ++i) {
    LayerWeights& L = layers_[static_cast<size_t>(i)];
    const std::string b = "blk." + std::to_string(i) + ".";
    NAUT_ASSIGN_OR_RETURN(L.wq, GetWeight(f, b + "attn_q.weight", E, E));
    NAUT_ASSIGN_OR_RETURN(L.wk, GetWeight(f, b + "attn_k.weight", E, E));
    NAUT_ASSIGN_OR_RETURN(L.wv, GetWeight(f, b + "attn_v.weight", E, E));
    NAUT_ASSIGN_OR_RETURN(L.wo, GetWeight(f, b + "attn_output.weight", E, E));
    NAUT_ASSIGN_OR_RETURN(L.bq, GetVector(f, b + "attn_q.bias", E));
    NAUT_ASSIGN_OR_RETURN(L.bk, GetVector(f, b + "attn_k.bias", E));
    NAUT_ASSIGN_OR_RETURN(L.bv, GetVector(f, b + "attn_v.bias", E));
    NAUT_ASSIGN_OR_RETURN(L.bo, GetVector(f, b + "attn_output.bias", E));
    NAUT_ASSIGN_OR_RETURN(L.attn_out_norm, GetVector(f, b + "attn_output_norm.weight", E));
    NAUT_ASSIGN_OR_RETURN(L.attn_out_norm_b, GetVector(f, b + "attn_output_norm.bias", E));
    NAUT_ASSIGN_OR_RETURN(L.up, GetWeight(f, b + "ffn_up.weight", E, F));
    NAUT_ASSIGN_OR_RETURN(L.bup, GetVector(f, b + "ffn_up.bias", F));
    NAUT_ASSIGN_OR_RETURN(L.down, GetWeight(f, b + "ffn_down.weight", F, E));
    NAUT_ASSIGN_OR_RETURN(L.bdown, GetVector(f, b + "ffn_down.bias", E));
    NAUT_ASSIGN_OR_RETURN(L.out_norm, GetVector(f, b + "layer_output_norm.weight", E));
    NAUT_ASSIGN_OR_RETURN(L.out_norm_b, GetVector(f, b + "layer_output_norm.bias", E));
  }
  for (const auto& t : f.tensors()) n_params_ += t.n_elements;
  return Status::Ok();
}

// --- Context ---

Context::Context(const Model& model, const ContextOptions& options)
    : model_(model), options_(options), pool_(std::max(1, options.n_threads)) {}

namespace {

// n_ctx as a context holds it: capped at the model's training context.
int EffectiveContext(const Model& model, int n_ctx) {
  return static_cast<int>(
      std::min<int64_t>(n_ctx, std::max<int64_t>(model.params().n_ctx_train, 1)));
}

// The bytes `values` keys or values take in a cache of this type (a multiple of 32 for Q8_0).
uint64_t KvBytes(KvType type, uint64_t values) {
  switch (type) {
    case KvType::kF16:
      return values * 2;
    case KvType::kQ8_0:
      return values / 32 * sizeof(BlockQ8_0);
    case KvType::kF32:
      break;
  }
  return values * 4;
}

// x[0..n) in place, block by block of `block` (a power of two dividing n): each block times the
// orthonormal Walsh-Hadamard matrix of that size (Sylvester's, symmetric, its own inverse).
void HadamardRotate(float* x, int64_t n, int64_t block) {
  const float norm = 1.0f / std::sqrt(static_cast<float>(block));
  for (float* b = x; b < x + n; b += block) {
    for (int64_t h = 1; h < block; h *= 2) {
      for (int64_t i = 0; i < block; i += 2 * h) {
        for (int64_t j = i; j < i + h; ++j) {
          const float a = b[j], c = b[j + h];
          b[j] = a + c;
          b[j + h] = a - c;
        }
      }
    }
    for (int64_t i = 0; i < block; ++i) b[i] *= norm;
  }
}

// A /proc/meminfo or cgroup figure in bytes; 0 when absent or unreadable.
uint64_t ReadBytes(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!key.empty()) {
      if (line.rfind(key + ":", 0) != 0) continue;
      line = line.substr(key.size() + 1);
      std::istringstream fields(line);
      uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
    if (line == "max") return 0;
    try {
      return std::stoull(line);
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1024.0 * 1024 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.0f MiB", std::ceil(b / (1024.0 * 1024)));
  }
  return buf;
}

MemoryAvailable SystemMemory() {
  MemoryAvailable m;
  m.total = ReadBytes("/proc/meminfo", "MemTotal");
  m.available = ReadBytes("/proc/meminfo", "MemAvailable");
  // cgroup v2: the limit of this process's group, less what the group already uses.
  std::ifstream cg("/proc/self/cgroup");
  std::string line;
  if (std::getline(cg, line) && line.rfind("0::", 0) == 0) {
    const std::string dir = "/sys/fs/cgroup" + line.substr(3);
    if (const uint64_t max = ReadBytes(dir + "/memory.max", ""); max > 0) {
      const uint64_t used = ReadBytes(dir + "/memory.current", "");
      m.total = m.total > 0 ? std::min(m.total, max) : max;
      const uint64_t left = max > used ? max - used : 0;
      m.available = m.available > 0 ? std::min(m.available, left) : left;
    }
  }
  return m;
}

MemoryNeed EstimateMemory(const Model& model, const ContextOptions& options) {
  const ModelParams& p = model.params();
  MemoryNeed need;
  need.weights = model.file().file_size() - model.file().data_offset();
  const uint64_t n_ctx = static_cast<uint64_t>(EffectiveContext(model, std::max(1, options.n_ctx)));
  const uint64_t values = static_cast<uint64_t>(std::max(1, options.n_seq)) * p.n_layer * n_ctx *
                          p.n_head_kv * p.head_dim * 2;
  need.kv_cache = model.embedding_only() ? 0 : KvBytes(options.kv_type, values);
  // The per-batch buffers of Forward (residual, norm, q, k, v, attention, projection, gate, up,
  // RoPE tables, quantized activations), the attention scores of its work items and one row of
  // logits per sequence.
  const uint64_t nt = static_cast<uint64_t>(std::max(1, options.n_batch));
  const uint64_t E = p.n_embd, Dq = p.n_head * p.head_dim, Dkv = p.n_head_kv * p.head_dim;
  need.scratch = 4 * nt * (3 * E + 2 * Dq + 2 * Dkv + 2 * p.n_ff + p.n_rot) + nt * 2 * p.n_ff +
                 4 * 4 * static_cast<uint64_t>(std::max(1, options.n_threads)) * n_ctx +
                 4 * static_cast<uint64_t>(p.n_vocab) * std::max(1, options.n_seq);
  return need;
}

Result<std::unique_ptr<Context>> Context::Create(const Model& model,
                                                 const ContextOptions& options) {
  if (options.n_ctx <= 0 || options.n_batch <= 0 || options.n_threads <= 0 ||
      options.n_threads > 256) {
    return InvalidArgument("context: n_ctx, n_batch and n_threads must be positive");
  }
  if (options.n_seq < 1 || options.n_seq > 256) {
    return InvalidArgument("context: n_seq must be 1..256, got " + std::to_string(options.n_seq));
  }
  if (options.kv_type == KvType::kQ8_0 && model.params().head_dim % 32 != 0) {
    return InvalidArgument(
        "context: a q8_0 KV cache needs a head size that is a multiple of 32; "
        "this model's is " +
        std::to_string(model.params().head_dim) + " (use f16)");
  }
  const MemoryNeed need = EstimateMemory(model, options);
  const MemoryAvailable have =
      options.memory.total > 0 || options.memory.available > 0 ? options.memory : SystemMemory();
  const uint64_t own = need.kv_cache + need.scratch;
  const std::string what =
      "the KV cache (" + HumanBytes(need.kv_cache) + ": " + std::to_string(options.n_seq) + " x " +
      std::to_string(EffectiveContext(model, options.n_ctx)) + " tokens, " +
      KvTypeName(options.kv_type) + ") and scratch (" + HumanBytes(need.scratch) + ")";
  const char* lower = "; lower the context size or the slots, or use an f16 KV cache";
  if (have.available > 0 && own > have.available) {
    return ResourceExhausted("context: " + what + " need " + HumanBytes(own) + " but only " +
                             HumanBytes(have.available) + " of memory is available" + lower);
  }
  if (have.total > 0 && need.total() > have.total) {
    return ResourceExhausted("context: the weights (" + HumanBytes(need.weights) + "), " + what +
                             " need " + HumanBytes(need.total()) + " but the machine has " +
                             HumanBytes(have.total) + lower + ", or take a smaller model");
  }
  std::unique_ptr<Context> c(new Context(model, options));
  const ModelParams& p = model.params();
  c->n_ctx_ = EffectiveContext(model, options.n_ctx);
  // An encoder keeps nothing between calls.
  const size_t kv = model.embedding_only() ? 0
                                           : static_cast<size_t>(options.n_seq) * p.n_layer *
                                                 c->n_ctx_ * p.n_head_kv * p.head_dim;
  c->seqs_.resize(static_cast<size_t>(options.n_seq));
  if (options.kv_type == KvType::kF16) {
    c->k_cache16_.assign(kv, 0);
    c->v_cache16_.assign(kv, 0);
  } else if (options.kv_type == KvType::kQ8_0) {
    c->k_cache8_.assign(KvBytes(KvType::kQ8_0, kv), 0);
    c->v_cache8_.assign(KvBytes(KvType::kQ8_0, kv), 0);
  } else {
    c->k_cache_.assign(kv, 0.0f);
    c->v_cache_.assign(kv, 0.0f);
  }
  c->logits_.assign(static_cast<size_t>(p.n_vocab), 0.0f);
  return c;
}

void Context::TruncateSeq(int seq, int n) {
  std::vector<TokenId>& tokens = seqs_[static_cast<size_t>(seq)];
  if (n < static_cast<int>(tokens.size())) tokens.resize(static_cast<size_t>(std::max(0, n)));
}

Status Context::EvalSeqs(const std::vector<SeqTokens>& batch) {
  if (model_.embedding_only()) {
    return InvalidArgument("context: a " + model_.params().arch_name +
                           " model only embeds; it cannot generate");
  }
  const int64_t nv = model_.params().n_vocab;
  std::vector<bool> seen(seqs_.size(), false);
  int total = 0;
  for (const SeqTokens& e : batch) {
    if (e.seq < 0 || e.seq >= n_seq() || seen[static_cast<size_t>(e.seq)]) {
      return InvalidArgument("context: sequence " + std::to_string(e.seq) +
                             " is unknown or twice in the batch");
    }
    seen[static_cast<size_t>(e.seq)] = true;
    if (e.n <= 0 || e.tokens == nullptr) return InvalidArgument("context: nothing to evaluate");
    for (int t = 0; t < e.n; ++t) {
      if (e.tokens[t] < 0 || e.tokens[t] >= nv)
        return InvalidArgument("context: token id " + std::to_string(e.tokens[t]) +
                               " is outside the vocabulary");
    }
    const size_t past = seqs_[static_cast<size_t>(e.seq)].size();
    if (past + static_cast<size_t>(e.n) > static_cast<size_t>(n_ctx_)) {
      return ResourceExhausted("context: " + std::to_string(past + e.n) +
                               " tokens exceed the context size " + std::to_string(n_ctx_) +
                               " of sequence " + std::to_string(e.seq));
    }
    total += e.n;
  }
  if (total == 0) return InvalidArgument("context: nothing to evaluate");
  batch_tokens_.clear();
  batch_seq_.clear();
  batch_pos_.clear();
  batch_rows_.clear();
  std::vector<int> out_rows;
  for (const SeqTokens& e : batch) {
    const int past = static_cast<int>(seqs_[static_cast<size_t>(e.seq)].size());
    for (int t = 0; t < e.n; ++t) {
      batch_tokens_.push_back(e.tokens[t]);
      batch_seq_.push_back(e.seq);
      batch_pos_.push_back(past + t);
    }
    // Rows not asked for still get a slot in logits_, so that entry i is logits(i).
    out_rows.push_back(e.logits ? static_cast<int>(batch_tokens_.size()) - 1 : -1);
  }
  std::vector<int> rows;
  for (int r : out_rows)
    if (r >= 0) rows.push_back(r);
  std::vector<float> picked(rows.size() * static_cast<size_t>(nv));
  Forward(batch_tokens_.data(), batch_seq_.data(), batch_pos_.data(), total, rows, picked.data());
  logits_.assign(batch.size() * static_cast<size_t>(nv), 0.0f);
  size_t k = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (out_rows[i] < 0) continue;
    std::copy_n(picked.data() + k * nv, nv, logits_.data() + i * nv);
    ++k;
  }
  for (const SeqTokens& e : batch) {
    std::vector<TokenId>& cached = seqs_[static_cast<size_t>(e.seq)];
    cached.insert(cached.end(), e.tokens, e.tokens + e.n);
  }
  return Status::Ok();
}

Status Context::Eval(const std::vector<TokenId>& tokens, bool all_logits) {
  if (model_.embedding_only()) {
    return InvalidArgument("context: a " + model_.params().arch_name +
                           " model only embeds; it cannot generate");
  }
  if (tokens.empty()) return InvalidArgument("context: nothing to evaluate");
  const int64_t nv = model_.params().n_vocab;
  for (TokenId t : tokens) {
    if (t < 0 || t >= nv)
      return InvalidArgument("context: token id " + std::to_string(t) +
                             " is outside the vocabulary");
  }
  if (n_past() + static_cast<int>(tokens.size()) > n_ctx_) {
    return ResourceExhausted("context: " + std::to_string(n_past() + tokens.size()) +
                             " tokens exceed the context size " + std::to_string(n_ctx_));
  }
  logits_.assign(static_cast<size_t>(all_logits ? tokens.size() : 1) * nv, 0.0f);
  for (size_t start = 0; start < tokens.size(); start += options_.n_batch) {
    int n = static_cast<int>(std::min<size_t>(options_.n_batch, tokens.size() - start));
    bool last = start + n == tokens.size();
    float* out = all_logits ? logits_.data() + start * nv : (last ? logits_.data() : nullptr);
    NAUT_RETURN_IF_ERROR(EvalBatch(tokens.data() + start, n, all_logits, out));
  }
  return Status::Ok();
}

Result<int> Context::EvalPrompt(const std::vector<TokenId>& prompt,
                                const std::function<bool()>& cancelled) {
  if (prompt.empty()) return InvalidArgument("context: empty prompt");
  size_t common = 0;
  const std::vector<TokenId>& cached = seqs_[0];
  while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common])
    ++common;
  if (common == prompt.size()) --common;  // re-evaluate the last token to get its logits
  Truncate(static_cast<int>(common));
  // A batch at a time, asking between batches whether to go on: a long prompt on a slow
  // machine takes minutes, and a caller that gave up should not wait for it.
  for (size_t at = common; at < prompt.size();) {
    if (cancelled && cancelled()) return Cancelled("context: prompt evaluation cancelled");
    size_t end = std::min(prompt.size(), at + static_cast<size_t>(std::max(1, options_.n_batch)));
    NAUT_RETURN_IF_ERROR(
        Eval(std::vector<TokenId>(prompt.begin() + static_cast<std::ptrdiff_t>(at),
                                  prompt.begin() + static_cast<std::ptrdiff_t>(end))));
    at = end;
  }
  return static_cast<int>(common);
}

Result<std::vector<float>> Context::Embed(const std::vector<TokenId>& tokens, Pooling pooling) {
  if (tokens.empty()) return InvalidArgument("context: nothing to embed");
  const int64_t E = model_.params().n_embd, nv = model_.params().n_vocab;
  for (TokenId t : tokens) {
    if (t < 0 || t >= nv)
      return InvalidArgument("context: token id " + std::to_string(t) +
                             " is outside the vocabulary");
  }
  if (tokens.size() > static_cast<size_t>(n_ctx_)) {
    return ResourceExhausted("context: " + std::to_string(tokens.size()) +
                             " tokens exceed the context size " + std::to_string(n_ctx_));
  }
  Truncate(0);
  const int n = static_cast<int>(tokens.size());
  std::vector<double> sum(static_cast<size_t>(E), 0.0);
  std::vector<float> rows;
  if (model_.embedding_only()) {
    // An encoder sees the whole text at once: no batches, nothing cached.
    rows.resize(static_cast<size_t>(n) * E);
    EncodeBert(tokens.data(), {0, n}, rows.data());
    for (int t = 0; t < n; ++t) {
      const bool wanted = pooling == Pooling::kMean || (pooling == Pooling::kCls && t == 0) ||
                          (pooling == Pooling::kLast && t == n - 1);
      if (!wanted) continue;
      for (int64_t i = 0; i < E; ++i)
        sum[static_cast<size_t>(i)] += rows[static_cast<size_t>(t) * E + i];
    }
  }
  for (int start = 0; start < n && !model_.embedding_only();
       start += std::max(1, options_.n_batch)) {
    const int count = std::min(std::max(1, options_.n_batch), n - start);
    batch_seq_.assign(static_cast<size_t>(count), 0);
    batch_pos_.resize(static_cast<size_t>(count));
    batch_rows_.clear();
    for (int t = 0; t < count; ++t) {
      batch_pos_[static_cast<size_t>(t)] = start + t;
      const int at = start + t;
      const bool wanted = pooling == Pooling::kMean || (pooling == Pooling::kCls && at == 0) ||
                          (pooling == Pooling::kLast && at == n - 1);
      if (wanted) batch_rows_.push_back(t);
    }
    rows.resize(batch_rows_.size() * static_cast<size_t>(E));
    Forward(tokens.data() + start, batch_seq_.data(), batch_pos_.data(), count, batch_rows_,
            rows.data(), /*hidden=*/true);
    seqs_[0].insert(seqs_[0].end(), tokens.begin() + start, tokens.begin() + start + count);
    for (size_t r = 0; r < batch_rows_.size(); ++r) {
      for (int64_t i = 0; i < E; ++i) sum[static_cast<size_t>(i)] += rows[r * E + i];
    }
  }
  Truncate(0);
  const double scale = pooling == Pooling::kMean ? 1.0 / n : 1.0;
  double norm = 0.0;
  for (double& v : sum) {
    v *= scale;
    norm += v * v;
  }
  norm = norm > 0.0 ? 1.0 / std::sqrt(norm) : 0.0;
  std::vector<float> out(static_cast<size_t>(E));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(sum[i] * norm);
  return out;
}

Result<std::vector<std::vector<float>>> Context::EmbedBatch(
    const std::vector<std::vector<TokenId>>& texts, Pooling pooling) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  if (!model_.embedding_only()) {
    for (size_t i = 0; i < texts.size(); ++i) {
      auto v = Embed(texts[i], pooling);
      if (!v.ok()) return v.error().WithContext("text " + std::to_string(i));
      out.push_back(std::move(*v));
    }
    return out;
  }
  const int64_t E = model_.params().n_embd, nv = model_.params().n_vocab;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string which = "context: text " + std::to_string(i);
    if (texts[i].empty()) return InvalidArgument(which + " has no tokens");
    if (texts[i].size() > static_cast<size_t>(n_ctx_)) {
      return ResourceExhausted(which + " has " + std::to_string(texts[i].size()) +
                               " tokens; the context size is " + std::to_string(n_ctx_));
    }
    for (TokenId t : texts[i]) {
      if (t < 0 || t >= nv)
        return InvalidArgument(which + ": token id " + std::to_string(t) +
                               " is outside the vocabulary");
    }
  }
  const size_t budget = static_cast<size_t>(std::max(options_.n_batch, n_ctx_));
  std::vector<TokenId> tokens;
  std::vector<int> starts;
  std::vector<float> rows;
  for (size_t first = 0; first < texts.size();) {
    // As many whole texts as fit in one pass.
    tokens.clear();
    starts.assign(1, 0);
    size_t last = first;
    while (last < texts.size() && (last == first || tokens.size() + texts[last].size() <= budget)) {
      tokens.insert(tokens.end(), texts[last].begin(), texts[last].end());
      starts.push_back(static_cast<int>(tokens.size()));
      ++last;
    }
    rows.resize(tokens.size() * static_cast<size_t>(E));
    EncodeBert(tokens.data(), starts, rows.data());
    for (size_t s = 0; s + 1 < starts.size(); ++s) {
      const int b = starts[s], e = starts[s + 1];
      std::vector<double> sum(static_cast<size_t>(E), 0.0);
      for (int t = b; t < e; ++t) {
        const bool wanted = pooling == Pooling::kMean || (pooling == Pooling::kCls && t == b) ||
                            (pooling == Pooling::kLast && t == e - 1);
        if (!wanted) continue;
        for (int64_t i = 0; i < E; ++i)
          sum[static_cast<size_t>(i)] += rows[static_cast<size_t>(t) * E + i];
      }
      double norm = 0.0;
      for (double v : sum) norm += v * v;
      norm = norm > 0.0 ? 1.0 / std::sqrt(norm) : 0.0;
      std::vector<float> v(static_cast<size_t>(E));
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(sum[i] * norm);
      out.push_back(std::move(v));
    }
    first = last;
  }
  return out;
}

Result<KvType> ParseKvType(std::string_view name) {
  if (name == "f32") return KvType::kF32;
  if (name == "f16") return KvType::kF16;
  if (name == "q8_0") return KvType::kQ8_0;
  return InvalidArgument("KV cache type must be f32, f16 or q8_0, not \"" + std::string(name) +
                         "\"");
}

const char* KvTypeName(KvType type) {
  switch (type) {
    case KvType::kF16:
      return "f16";
    case KvType::kQ8_0:
      return "q8_0";
    case KvType::kF32:
      break;
  }
  return "f32";
}

Result<Pooling> ParsePooling(std::string_view name) {
  if (name == "mean") return Pooling::kMean;
  if (name == "cls") return Pooling::kCls;
  if (name == "last") return Pooling::kLast;
  return InvalidArgument("pooling must be mean, cls or last, not \"" + std::string(name) + "\"");
}

Result<Pooling> PoolingOf(const Model& model) {
  const std::string key = model.params().arch_name + ".pooling_type";
  if (model.file().Find(key) == nullptr) return Pooling::kMean;
  NAUT_ASSIGN_OR_RETURN(int64_t type, model.file().GetInt(key));
  switch (type) {
    case 1:
      return Pooling::kMean;
    case 2:
      return Pooling::kCls;
    case 3:
      return Pooling::kLast;
    default:
      return InvalidArgument(key + " is " + std::to_string(type) +
                             ": only 1 (mean), 2 (cls) and 3 (last) pool a text into one vector");
  }
}

namespace {

// Rows [first, first + count) of a stacked weight: one expert's matrix.
Weight Rows(const Weight& w, int64_t first, int64_t count) {
  Weight r = w;
  r.rows = count;
  r.data = w.data + first * static_cast<int64_t>(w.row_bytes);
  return r;
}

}  // namespace

// The router picks each token's experts; then each chosen expert runs once over all the tokens
// that chose it (its rows are read once for them, and the experts nobody chose not at all),
// and its output is added to those tokens' sums with their routing weights, as llama.cpp's
// build_moe_ffn computes it.
void Context::MoeFfn(const LayerWeights& L, const float* xn, int n, float* out) {
  const ModelParams& p = model_.params();
  const int64_t E = p.n_embd, X = p.n_expert, K = p.n_expert_used, Fx = p.n_ff_exp;
  const VectorKernels& vk = GetVectorKernels();
  moe_router_.resize(static_cast<size_t>(n) * X);
  MatMul(L.gate_inp, xn, n, moe_router_.data());
  // Per token: softmax over the experts, the K largest, their weights.
  std::vector<std::vector<std::pair<int, float>>> chosen(static_cast<size_t>(X));
  std::vector<int> order(static_cast<size_t>(X));
  for (int t = 0; t < n; ++t) {
    float* logits = moe_router_.data() + static_cast<size_t>(t) * X;
    const float mx = *std::max_element(logits, logits + X);
    double sum = 0;
    for (int64_t e = 0; e < X; ++e) {
      logits[e] = std::exp(logits[e] - mx);
      sum += logits[e];
    }
    for (int64_t e = 0; e < X; ++e) logits[e] = static_cast<float>(logits[e] / sum);
    for (int64_t e = 0; e < X; ++e) order[static_cast<size_t>(e)] = static_cast<int>(e);
    std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int a, int b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    float wsum = 0;
    for (int64_t k = 0; k < K; ++k) wsum += logits[order[static_cast<size_t>(k)]];
    const float norm = p.moe_norm_weights ? 1.0f / std::max(wsum, 6.103515625e-5f) : 1.0f;
    const float scale = p.expert_weights_scale != 0.0f ? p.expert_weights_scale : 1.0f;
    for (int64_t k = 0; k < K; ++k) {
      const int e = order[static_cast<size_t>(k)];
      chosen[static_cast<size_t>(e)].emplace_back(t, logits[e] * norm * scale);
    }
  }
  std::fill(out, out + static_cast<size_t>(n) * E, 0.0f);
  for (int64_t e = 0; e < X; ++e) {
    const auto& tokens = chosen[static_cast<size_t>(e)];
    if (tokens.empty()) continue;
    const int m = static_cast<int>(tokens.size());
    moe_in_.resize(static_cast<size_t>(m) * E);
    for (int i = 0; i < m; ++i)
      std::copy_n(xn + static_cast<size_t>(tokens[static_cast<size_t>(i)].first) * E, E,
                  moe_in_.data() + static_cast<size_t>(i) * E);
    moe_g_.resize(static_cast<size_t>(m) * Fx);
    moe_u_.resize(static_cast<size_t>(m) * Fx);
    moe_out_.resize(static_cast<size_t>(m) * E);
    MatMul(Rows(L.gate_exps, e * Fx, Fx), moe_in_.data(), m, moe_g_.data());
    MatMul(Rows(L.up_exps, e * Fx, Fx), moe_in_.data(), m, moe_u_.data());
    vk.silu_mul(moe_g_.data(), moe_u_.data(), static_cast<int64_t>(m) * Fx);
    MatMul(Rows(L.down_exps, e * E, E), moe_g_.data(), m, moe_out_.data());
    for (int i = 0; i < m; ++i) {
      const auto [t, w] = tokens[static_cast<size_t>(i)];
      float* o = out + static_cast<size_t>(t) * E;
      const float* y = moe_out_.data() + static_cast<size_t>(i) * E;
      for (int64_t d = 0; d < E; ++d) o[d] += w * y[d];
    }
  }
  if (p.n_ff_shexp > 0) {
    // The shared expert, for every token, gated by sigmoid(gate_inp_shexp . x).
    const int64_t S = p.n_ff_shexp;
    std::vector<float> gate(static_cast<size_t>(n));
    MatMul(L.gate_inp_shexp, xn, n, gate.data());
    moe_g_.resize(static_cast<size_t>(n) * S);
    moe_u_.resize(static_cast<size_t>(n) * S);
    moe_out_.resize(static_cast<size_t>(n) * E);
    MatMul(L.gate_shexp, xn, n, moe_g_.data());
    MatMul(L.up_shexp, xn, n, moe_u_.data());
    vk.silu_mul(moe_g_.data(), moe_u_.data(), static_cast<int64_t>(n) * S);
    MatMul(L.down_shexp, moe_g_.data(), n, moe_out_.data());
    for (int t = 0; t < n; ++t) {
      const float s = 1.0f / (1.0f + std::exp(-gate[static_cast<size_t>(t)]));
      for (int64_t d = 0; d < E; ++d)
        out[static_cast<size_t>(t) * E + d] += s * moe_out_[static_cast<size_t>(t) * E + d];
    }
  }
}

void Context::MatMul(const Weight& w, const float* x, int n_tokens, float* y) {
  if (const GemmKernel* gk = GetGemm(w.type)) {
    MatMulTiled(*gk, w, x, n_tokens, y);
    return;
  }
  const ActFormat fmt = ActFormatFor(w.type);
  const size_t arow = ActRowBytes(fmt, w.cols);
  const void* acts = x;
  if (fmt != ActFormat::kF32) {
    act_buf_.resize(arow * n_tokens);
    for (int t = 0; t < n_tokens; ++t)
      QuantizeActs(fmt, x + static_cast<size_t>(t) * w.cols, w.cols, act_buf_.data() + arow * t);
    acts = act_buf_.data();
  }
  const VecDotFn dot = GetVecDot(w.type);
  const VecDot4Fn dot4 = n_tokens >= 4 ? GetVecDot4(w.type) : nullptr;
  const uint8_t* a8 = static_cast<const uint8_t*>(acts);
  const int64_t rows = w.rows;
  // Chunks of whole row tiles; each runs every token against its rows, so a weight tile is
  // read from memory once per batch.
  constexpr int64_t kTile = 16;
  const int64_t n_tiles = (rows + kTile - 1) / kTile;
  const bool small = static_cast<int64_t>(w.row_bytes) * rows * n_tokens < kMinParallelBytes;
  const int64_t n_chunks = small ? 1 : std::min<int64_t>(n_tiles, 4 * pool_.size());
  pool_.ParallelFor(n_chunks, [&](int64_t chunk) {
    int64_t tb, te;
    SplitRange(n_tiles, chunk, n_chunks, &tb, &te);
    for (int64_t rb = tb * kTile; rb < std::min(rows, te * kTile); rb += kTile) {
      const int64_t re = std::min(rows, rb + kTile);
      int t = 0;
      if (dot4 != nullptr) {
        float out[4];
        for (; t + 4 <= n_tokens; t += 4) {
          const void* at = a8 + arow * t;
          for (int64_t r = rb; r < re; ++r) {
            dot4(w.cols, w.row(r), at, arow, out);
            for (int j = 0; j < 4; ++j) y[static_cast<size_t>(t + j) * rows + r] = out[j];
          }
        }
      }
      for (; t < n_tokens; ++t) {
        const void* at = a8 + arow * t;
        float* yt = y + static_cast<size_t>(t) * rows;
        for (int64_t r = rb; r < re; ++r) yt[r] = dot(w.cols, w.row(r), at);
      }
    }
  });
}

void Context::MatMulTiled(const GemmKernel& gk, const Weight& w, const float* x, int n_tokens,
                          float* y) {
  if (gk.batch_gemm != nullptr && n_tokens >= gk.batch_min_tokens) {
    MatMulBatch(gk, w, x, n_tokens, y);
    return;
  }
  const size_t arow = (gk.act_row_bytes(w.cols) + 63) & ~static_cast<size_t>(63);
  act_buf_.resize(arow * n_tokens + 64);
  uint8_t* acts = act_buf_.data() + (-reinterpret_cast<uintptr_t>(act_buf_.data()) & 63);
  const int64_t rows = w.rows;
  const bool small = static_cast<int64_t>(w.row_bytes) * rows * n_tokens < kMinParallelBytes;
  // Activation rows are converted in parallel when there are enough of them to pay.
  const int64_t prep_chunks = n_tokens >= 16 && !small ? pool_.size() : 1;
  pool_.ParallelFor(prep_chunks, [&](int64_t chunk) {
    int64_t b, e;
    SplitRange(n_tokens, chunk, prep_chunks, &b, &e);
    for (int64_t t = b; t < e; ++t) gk.prepare(x + t * w.cols, w.cols, acts + t * arow);
  });
  // Chunks of rows small enough to stay in L2 while every token tile passes over them, and
  // many enough that a thread the OS holds back leaves little work to wait for.
  int64_t rows_per_chunk = std::max<int64_t>(4, kChunkBytes / static_cast<int64_t>(w.row_bytes));
  rows_per_chunk = std::min(rows_per_chunk, (rows + 4 * pool_.size() - 1) / (4 * pool_.size()));
  rows_per_chunk = std::max<int64_t>(4, (rows_per_chunk + 3) & ~int64_t{3});
  const int64_t n_chunks = small ? 1 : (rows + rows_per_chunk - 1) / rows_per_chunk;
  pool_.ParallelFor(n_chunks, [&](int64_t chunk) {
    const int64_t r0 = small ? 0 : chunk * rows_per_chunk;
    const int64_t r1 = small ? rows : std::min(rows, r0 + rows_per_chunk);
    gk.gemm(w.cols, w.data, w.row_bytes, r0, r1, acts, arow, n_tokens, y,
            static_cast<size_t>(rows));
  });
}

void Context::MatMulBatch(const GemmKernel& gk, const Weight& w, const float* x, int n_tokens,
                          float* y) {
  act_buf_.resize(gk.batch_bytes(w.cols, n_tokens) + 64);
  uint8_t* acts = act_buf_.data() + (-reinterpret_cast<uintptr_t>(act_buf_.data()) & 63);
  const int slots = gk.batch_slots(n_tokens);
  const int64_t prep_chunks = pool_.size();
  pool_.ParallelFor(prep_chunks, [&](int64_t chunk) {
    int64_t b, e;
    SplitRange(slots, chunk, prep_chunks, &b, &e);
    if (b < e)
      gk.batch_prepare(x, w.cols, static_cast<int>(b), static_cast<int>(e), n_tokens, acts);
  });
  const int64_t rows = w.rows;
  int64_t rows_per_chunk = std::max<int64_t>(16, kChunkBytes / static_cast<int64_t>(w.row_bytes));
  rows_per_chunk = std::min(rows_per_chunk, (rows + 4 * pool_.size() - 1) / (4 * pool_.size()));
  rows_per_chunk = std::max<int64_t>(16, (rows_per_chunk + 15) & ~int64_t{15});
  const int64_t n_chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  pool_.ParallelFor(n_chunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * rows_per_chunk;
    const int64_t r1 = std::min(rows, r0 + rows_per_chunk);
    gk.batch_gemm(w.cols, w.data, w.row_bytes, r0, r1, acts, n_tokens, y,
                  static_cast<size_t>(rows));
  });
}

// One forward pass through every layer, kept in one piece on purpose: this is the hot path of
// every decoded token, and each step of the layer loop (norm, QKV, RoPE, KV-cache write,
// attention, FFN) works on the same scratch buffers, RoPE tables and cache pointers set up at
// the top. Read it in the order a transformer layer runs; the comments mark the steps.
Status Context::EvalBatch(const TokenId* tokens, int n, bool all_logits, float* logits_out) {
  batch_seq_.assign(static_cast<size_t>(n), 0);
  batch_pos_.resize(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) batch_pos_[static_cast<size_t>(t)] = n_past() + t;
  batch_rows_.clear();
  if (logits_out != nullptr) {
    for (int t = all_logits ? 0 : n - 1; t < n; ++t) batch_rows_.push_back(t);
  }
  Forward(tokens, batch_seq_.data(), batch_pos_.data(), n, batch_rows_, logits_out);
  seqs_[0].insert(seqs_[0].end(), tokens, tokens + n);
  return Status::Ok();
}

void Context::Forward(const TokenId* tokens, const int* seq, const int* pos, int n,
                      const std::vector<int>& out_rows, float* logits_out, bool hidden) {
  const ModelParams& p = model_.params();
  const int64_t E = p.n_embd, hd = p.head_dim, H = p.n_head, Hkv = p.n_head_kv;
  const int64_t Dq = H * hd, Dkv = Hkv * hd, F = p.n_ff;
  // The longest span a token of the batch attends to, and the work of all of them.
  int max_len = 0;
  int64_t attn_work = 0;
  for (int t = 0; t < n; ++t) {
    max_len = std::max(max_len, pos[t] + 1);
    attn_work += pos[t] + 1;
  }
  // Scratch buffers live in the Context and only grow, so steady decoding allocates nothing.
  auto sized = [](std::vector<float>& b, size_t size) -> std::vector<float>& {
    if (b.size() < size) b.resize(size);
    return b;
  };
  const size_t nt = static_cast<size_t>(n);
  std::vector<float>& x = sized(buf_x_, nt * E);
  std::vector<float>& xn = sized(buf_xn_, nt * E);
  std::vector<float>& q = sized(buf_q_, nt * Dq);
  std::vector<float>& k = sized(buf_k_, nt * Dkv);
  std::vector<float>& v = sized(buf_v_, nt * Dkv);
  std::vector<float>& attn = sized(buf_attn_, nt * Dq);
  std::vector<float>& proj = sized(buf_proj_, nt * E);
  std::vector<float>& g = sized(buf_g_, nt * F);
  std::vector<float>& u = sized(buf_u_, nt * F);
  const VectorKernels& vk = GetVectorKernels();
  for (int t = 0; t < n; ++t) {
    DequantizeRow(model_.token_embd().type, model_.token_embd().row(tokens[t]), x.data() + t * E,
                  E);
  }
  // RoPE angles for the new positions.
  const int64_t half = p.n_rot / 2;
  std::vector<float>& cosv = sized(buf_cos_, nt * half);
  std::vector<float>& sinv = sized(buf_sin_, nt * half);
  const auto& ff = model_.rope_freq_factors();
  for (int t = 0; t < n; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      double extrap = static_cast<double>(pos[t]) *
                      std::pow(static_cast<double>(p.rope_base),
                               -2.0 * static_cast<double>(i) / static_cast<double>(p.n_rot));
      if (!ff.empty()) extrap /= ff[i];
      double theta = p.rope_freq_scale * extrap;
      if (p.yarn_ext_factor != 0.0f) {
        // YaRN: the fast-turning dimensions keep their angle, the slow ones interpolate.
        const double y = (static_cast<double>(i) - p.yarn_low) /
                         std::max(0.001, static_cast<double>(p.yarn_high - p.yarn_low));
        const double mix = (1.0 - std::clamp(y, 0.0, 1.0)) * p.yarn_ext_factor;
        theta = theta * (1.0 - mix) + extrap * mix;
      }
      cosv[t * half + i] = static_cast<float>(std::cos(theta) * p.rope_mscale);
      sinv[t * half + i] = static_cast<float>(std::sin(theta) * p.rope_mscale);
    }
  }
  auto rope = [&](float* vec, int t) {
    const float* c = cosv.data() + t * half;
    const float* s = sinv.data() + t * half;
    for (int64_t i = 0; i < half; ++i) {
      int64_t a = p.rope_neox ? i : 2 * i;
      int64_t b = p.rope_neox ? i + half : 2 * i + 1;
      float x0 = vec[a], x1 = vec[b];
      vec[a] = x0 * c[i] - x1 * s[i];
      vec[b] = x0 * s[i] + x1 * c[i];
    }
  };
  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t layer_stride = static_cast<size_t>(n_ctx_) * Dkv;
  const size_t seq_stride = layer_stride * static_cast<size_t>(p.n_layer);
  // A Q8_0 cache holds a position's keys (or values) as one row of blocks.
  const size_t row8 = static_cast<size_t>(Dkv / 32) * sizeof(BlockQ8_0);
  const size_t head8 = static_cast<size_t>(hd / 32) * sizeof(BlockQ8_0);
  const size_t q_row8 = static_cast<size_t>(Dq / 32) * sizeof(BlockQ8_0);
  const size_t layer_stride8 = static_cast<size_t>(n_ctx_) * row8;
  const size_t seq_stride8 = layer_stride8 * static_cast<size_t>(p.n_layer);
  if (options_.kv_type == KvType::kQ8_0 && buf_q8_.size() < nt * q_row8)
    buf_q8_.resize(nt * q_row8);
  // The rotations llama.cpp applies around a quantized cache where the head size is a multiple
  // of 64: keys (and queries) in blocks of the largest power of two that divides it, values in
  // blocks of 64; 0: none.
  int64_t rot_k = 0, rot_v = 0;
  if (options_.kv_type == KvType::kQ8_0 && hd % 64 == 0) {
    rot_k = 64;
    while (hd % (rot_k * 2) == 0) rot_k *= 2;
    rot_v = 64;
  }
  std::vector<float> head_norm(static_cast<size_t>(hd));
  for (int64_t il = 0; il < p.n_layer; ++il) {
    const LayerWeights& L = model_.layers()[static_cast<size_t>(il)];
    for (int t = 0; t < n; ++t)
      RmsNorm(x.data() + t * E, L.attn_norm.data(), E, p.rms_eps, xn.data() + t * E);
    MatMul(L.wq, xn.data(), n, q.data());
    MatMul(L.wk, xn.data(), n, k.data());
    MatMul(L.wv, xn.data(), n, v.data());
    const bool f16 = options_.kv_type == KvType::kF16;
    const bool q8 = options_.kv_type == KvType::kQ8_0;
    float* const kc0 = f16 || q8 ? nullptr : k_cache_.data() + il * layer_stride;
    float* const vc0 = f16 || q8 ? nullptr : v_cache_.data() + il * layer_stride;
    uint16_t* const kh0 = f16 ? k_cache16_.data() + il * layer_stride : nullptr;
    uint16_t* const vh0 = f16 ? v_cache16_.data() + il * layer_stride : nullptr;
    uint8_t* const k80 = q8 ? k_cache8_.data() + il * layer_stride8 : nullptr;
    uint8_t* const v80 = q8 ? v_cache8_.data() + il * layer_stride8 : nullptr;
    for (int t = 0; t < n; ++t) {
      float* qt = q.data() + t * Dq;
      float* kt = k.data() + t * Dkv;
      float* vt = v.data() + t * Dkv;
      if (!L.bq.empty())
        for (int64_t i = 0; i < Dq; ++i) qt[i] += L.bq[i];
      if (!L.bk.empty())
        for (int64_t i = 0; i < Dkv; ++i) kt[i] += L.bk[i];
      if (!L.bv.empty())
        for (int64_t i = 0; i < Dkv; ++i) vt[i] += L.bv[i];
      for (int64_t h = 0; h < H; ++h) {
        if (!L.q_norm.empty()) {
          RmsNorm(qt + h * hd, L.q_norm.data(), hd, p.rms_eps, head_norm.data());
          std::copy(head_norm.begin(), head_norm.end(), qt + h * hd);
        }
        rope(qt + h * hd, t);
      }
      for (int64_t h = 0; h < Hkv; ++h) {
        if (!L.k_norm.empty()) {
          RmsNorm(kt + h * hd, L.k_norm.data(), hd, p.rms_eps, head_norm.data());
          std::copy(head_norm.begin(), head_norm.end(), kt + h * hd);
        }
        rope(kt + h * hd, t);
      }
      // Keys go in transposed ([kv head * head_dim + d][position]) for the attention kernel.
      const size_t at = seq[t] * seq_stride;
      if (q8) {
        // As llama.cpp does before quantizing a cache: queries and keys rotated alike (their
        // products unchanged), values too (the output is rotated back below), so that one
        // large component no longer sets the scale of its whole block.
        if (rot_k > 0) {
          HadamardRotate(qt, Dq, rot_k);
          HadamardRotate(kt, Dkv, rot_k);
        }
        if (rot_v > 0) HadamardRotate(vt, Dkv, rot_v);
        const size_t at8 = seq[t] * seq_stride8 + static_cast<size_t>(pos[t]) * row8;
        QuantizeActs(ActFormat::kQ8_0, kt, Dkv, k80 + at8);
        QuantizeActs(ActFormat::kQ8_0, vt, Dkv, v80 + at8);
        QuantizeActs(ActFormat::kQ8_0, qt, Dq, buf_q8_.data() + t * q_row8);
      } else if (f16) {
        uint16_t* kc = kh0 + at;
        uint16_t* vc = vh0 + at + static_cast<size_t>(pos[t]) * Dkv;
        for (int64_t i = 0; i < Dkv; ++i)
          kc[static_cast<size_t>(i) * n_ctx_ + pos[t]] = Fp32ToFp16(kt[i]);
        for (int64_t i = 0; i < Dkv; ++i) vc[i] = Fp32ToFp16(vt[i]);
      } else {
        float* kc = kc0 + at;
        for (int64_t i = 0; i < Dkv; ++i) kc[static_cast<size_t>(i) * n_ctx_ + pos[t]] = kt[i];
        std::memcpy(vc0 + at + static_cast<size_t>(pos[t]) * Dkv, vt, Dkv * sizeof(float));
      }
    }
    // Causal attention, one (token, head) pair per work item.
    const int64_t group = H / Hkv;
    const bool small_attn = attn_work * H * hd < kMinParallelBytes / 4;
    const int64_t attn_chunks =
        small_attn ? 1 : std::min<int64_t>(static_cast<int64_t>(n) * H, 4 * pool_.size());
    scores_.resize(static_cast<size_t>(attn_chunks) * max_len);
    pool_.ParallelFor(attn_chunks, [&](int64_t chunk) {
      int64_t b, e;
      SplitRange(static_cast<int64_t>(n) * H, chunk, attn_chunks, &b, &e);
      float* score = scores_.data() + chunk * static_cast<size_t>(max_len);
      for (int64_t item = b; item < e; ++item) {
        const int t = static_cast<int>(item / H);
        const int64_t h = item % H, hk = h / group;
        const size_t at = seq[t] * seq_stride;
        if (q8) {
          vk.attend_q8_0(buf_q8_.data() + t * q_row8 + h * head8,
                         k80 + seq[t] * seq_stride8 + hk * head8,
                         v80 + seq[t] * seq_stride8 + hk * head8, row8, pos[t] + 1,
                         static_cast<int>(hd), kq_scale, score, attn.data() + t * Dq + h * hd);
        } else if (f16) {
          vk.attend_f16(q.data() + t * Dq + h * hd, kh0 + at + hk * hd * n_ctx_,
                        static_cast<size_t>(n_ctx_), vh0 + at + hk * hd, static_cast<size_t>(Dkv),
                        pos[t] + 1, static_cast<int>(hd), kq_scale, score,
                        attn.data() + t * Dq + h * hd);
        } else {
          vk.attend(q.data() + t * Dq + h * hd, kc0 + at + hk * hd * n_ctx_,
                    static_cast<size_t>(n_ctx_), vc0 + at + hk * hd, static_cast<size_t>(Dkv),
                    pos[t] + 1, static_cast<int>(hd), kq_scale, score,
                    attn.data() + t * Dq + h * hd);
        }
      }
    });
    if (q8 && rot_v > 0) HadamardRotate(attn.data(), static_cast<int64_t>(nt) * Dq, rot_v);
    MatMul(L.wo, attn.data(), n, proj.data());
    for (size_t i = 0; i < nt * E; ++i) x[i] += proj[i] + (L.bo.empty() ? 0.0f : L.bo[i % E]);
    for (int t = 0; t < n; ++t)
      RmsNorm(x.data() + t * E, L.ffn_norm.data(), E, p.rms_eps, xn.data() + t * E);
    if (p.n_expert > 0) {
      MoeFfn(L, xn.data(), n, proj.data());
    } else {
      MatMul(L.gate, xn.data(), n, g.data());
      MatMul(L.up, xn.data(), n, u.data());
      vk.silu_mul(g.data(), u.data(), static_cast<int64_t>(nt * F));
      MatMul(L.down, g.data(), n, proj.data());
    }
    for (size_t i = 0; i < nt * E; ++i) x[i] += proj[i];
  }
  if (out_rows.empty() || logits_out == nullptr) return;
  const int count = static_cast<int>(out_rows.size());
  float* normed = hidden ? logits_out : xn.data();
  for (int i = 0; i < count; ++i)
    RmsNorm(x.data() + static_cast<size_t>(out_rows[static_cast<size_t>(i)]) * E,
            model_.output_norm().data(), E, p.rms_eps, normed + static_cast<size_t>(i) * E);
  if (!hidden) MatMul(model_.output(), xn.data(), count, logits_out);
}

}  // namespace naut::engine
