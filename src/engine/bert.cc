// The forward pass of a bert encoder (Model::InitBert in model.cc loads it), as llama.cpp's
// `bert` graph computes it: post-LayerNorm layers, attention over the whole text in both
// directions, a GELU FFN.

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/model.h"
#include "engine/quant.h"

namespace naut::engine {

namespace {

// LayerNorm of one row: y = (x - mean) / sqrt(var + eps) * w + b.
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* y) {
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    var += d * d;
  }
  var /= static_cast<double>(n);
  const double scale = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>((x[i] - mean) * scale) * w[i] + b[i];
}

// GELU in the tanh form that ggml's gelu computes (the checkpoints were trained with the erf
// form; the two differ by under 1e-3 anywhere).
float Gelu(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

}  // namespace

void Context::EncodeBert(const TokenId* tokens, const std::vector<int>& starts, float* hidden) {
  const int n = starts.back();
  const ModelParams& p = model_.params();
  const int64_t E = p.n_embd, H = p.n_head, hd = p.head_dim, F = p.n_ff;
  const float eps = p.layer_norm_eps;
  const size_t nt = static_cast<size_t>(n);
  auto sized = [](std::vector<float>& b, size_t size) -> std::vector<float>& {
    if (b.size() < size) b.resize(size);
    return b;
  };
  std::vector<float>& x = sized(buf_x_, nt * E);
  std::vector<float>& q = sized(buf_q_, nt * E);
  std::vector<float>& k = sized(buf_k_, nt * E);
  std::vector<float>& v = sized(buf_v_, nt * E);
  std::vector<float>& kt = sized(buf_xn_, nt * E);  // keys transposed: [E][n]
  std::vector<float>& attn = sized(buf_attn_, nt * E);
  std::vector<float>& proj = sized(buf_proj_, nt * E);
  std::vector<float>& up = sized(buf_u_, nt * F);
  std::vector<float> row(static_cast<size_t>(E));

  // Token, position and token-type (all type 0) embeddings, summed and normed.
  std::vector<float> type0(static_cast<size_t>(E));
  DequantizeRow(model_.token_types().type, model_.token_types().row(0), type0.data(), E);
  // Each text's start, for every token: positions count from it and attention stays in it.
  std::vector<int> first(nt), end(nt);
  for (size_t s = 0; s + 1 < starts.size(); ++s) {
    for (int t = starts[s]; t < starts[s + 1]; ++t) {
      first[static_cast<size_t>(t)] = starts[s];
      end[static_cast<size_t>(t)] = starts[s + 1];
    }
  }
  for (int t = 0; t < n; ++t) {
    float* xt = x.data() + t * E;
    DequantizeRow(model_.token_embd().type, model_.token_embd().row(tokens[t]), xt, E);
    DequantizeRow(model_.position_embd().type,
                  model_.position_embd().row(t - first[static_cast<size_t>(t)]), row.data(), E);
    for (int64_t i = 0; i < E; ++i) row[i] += xt[i] + type0[i];
    LayerNorm(row.data(), model_.embd_norm().data(), model_.embd_norm_b().data(), E, eps, xt);
  }

  auto add_bias = [&](std::vector<float>& y, const std::vector<float>& bias, int64_t cols) {
    for (size_t t = 0; t < nt; ++t)
      for (int64_t i = 0; i < cols; ++i) y[t * cols + i] += bias[i];
  };
  // The element-wise steps, split over the threads by token (GELU's tanh is as costly as a
  // small product).
  auto per_token = [&](const std::function<void(size_t)>& fn) {
    const int64_t chunks = std::min<int64_t>(n, pool_.size());
    pool_.ParallelFor(chunks, [&](int64_t chunk) {
      int64_t b, e;
      SplitRange(n, chunk, chunks, &b, &e);
      for (int64_t t = b; t < e; ++t) fn(static_cast<size_t>(t));
    });
  };
  // x = LayerNorm(x + proj + bias), each token.
  auto residual_norm = [&](const std::vector<float>& bias, const std::vector<float>& w,
                           const std::vector<float>& b) {
    per_token([&](size_t t) {
      float* xt = x.data() + t * E;
      std::vector<float> sum(static_cast<size_t>(E));
      for (int64_t i = 0; i < E; ++i) sum[i] = xt[i] + proj[t * E + i] + bias[i];
      LayerNorm(sum.data(), w.data(), b.data(), E, eps, xt);
    });
  };
  const VectorKernels& vk = GetVectorKernels();
  const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const LayerWeights& L : model_.layers()) {
    MatMul(L.wq, x.data(), n, q.data());
    MatMul(L.wk, x.data(), n, k.data());
    MatMul(L.wv, x.data(), n, v.data());
    add_bias(q, L.bq, E);
    add_bias(k, L.bk, E);
    add_bias(v, L.bv, E);
    for (size_t t = 0; t < nt; ++t)
      for (int64_t i = 0; i < E; ++i) kt[static_cast<size_t>(i) * nt + t] = k[t * E + i];
    // Every token attends to every token of its text, one (token, head) pair per work item.
    const int64_t items = static_cast<int64_t>(n) * H;
    const int64_t chunks = std::min<int64_t>(items, 4 * pool_.size());
    scores_.resize(static_cast<size_t>(chunks) * nt);
    pool_.ParallelFor(chunks, [&](int64_t chunk) {
      int64_t b, e;
      SplitRange(items, chunk, chunks, &b, &e);
      float* score = scores_.data() + chunk * nt;
      for (int64_t item = b; item < e; ++item) {
        const int64_t t = item / H, h = item % H;
        const size_t s0 = static_cast<size_t>(first[static_cast<size_t>(t)]);
        const size_t s1 = static_cast<size_t>(end[static_cast<size_t>(t)]);
        vk.attend(q.data() + t * E + h * hd, kt.data() + h * hd * nt + s0, nt,
                  v.data() + s0 * E + h * hd, static_cast<size_t>(E), static_cast<int>(s1 - s0),
                  static_cast<int>(hd), kq_scale, score, attn.data() + t * E + h * hd);
      }
    });
    MatMul(L.wo, attn.data(), n, proj.data());
    residual_norm(L.bo, L.attn_out_norm, L.attn_out_norm_b);
    MatMul(L.up, x.data(), n, up.data());
    per_token([&](size_t t) {
      for (int64_t i = 0; i < F; ++i) up[t * F + i] = Gelu(up[t * F + i] + L.bup[i]);
    });
    MatMul(L.down, up.data(), n, proj.data());
    residual_norm(L.bdown, L.out_norm, L.out_norm_b);
  }
  std::copy(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(nt * E), hidden);
}

}  // namespace naut::engine
