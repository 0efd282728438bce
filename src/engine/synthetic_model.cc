#include "engine/synthetic_model.h"

#include <cstring>
#include <random>
#include <vector>

#include "engine/quant.h"

namespace naut::engine {

namespace {

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

}  // namespace

GgufWriter BuildSyntheticModel(const SyntheticModelSpec& s) {
  GgufWriter w;
  const std::string& a = s.arch;
  w.AddString("general.architecture", a);
  w.AddString("general.name", "synthetic-" + a);
  w.AddU32(a + ".context_length", static_cast<uint32_t>(s.n_ctx));
  w.AddU32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  w.AddU32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.AddU32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  w.AddU32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  w.AddU32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  w.AddF32(a + ".rope.freq_base", 10000.0f);
  w.AddF32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.AddU32(a + ".rope.dimension_count", static_cast<uint32_t>(s.n_embd / s.n_head));
  w.AddU32(a + ".vocab_size", static_cast<uint32_t>(s.n_vocab));

  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256 && static_cast<int64_t>(tokens.size()) < s.n_vocab; ++b) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.push_back(buf);
    scores.push_back(0);
    types.push_back(6);
  }
  const char* letters = "etaoinshrdlucmfwypvbgkjqxz";
  for (int64_t i = 0; static_cast<int64_t>(tokens.size()) < s.n_vocab; ++i) {
    std::string piece = (i % 2 == 0) ? "\xE2\x96\x81" : "";
    int64_t k = i / 2;
    do {
      piece += letters[k % 26];
      k /= 26;
    } while (k > 0);
    tokens.push_back(piece);
    scores.push_back(-static_cast<float>(i));
    types.push_back(1);
  }
  w.AddString("tokenizer.ggml.model", "llama");
  w.AddString("tokenizer.ggml.pre", "default");
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  w.AddF32Array("tokenizer.ggml.scores", scores);
  w.AddI32Array("tokenizer.ggml.token_type", types);
  w.AddU32("tokenizer.ggml.bos_token_id", 1);
  w.AddU32("tokenizer.ggml.eos_token_id", 2);
  w.AddU32("tokenizer.ggml.unknown_token_id", 0);
  w.AddBool("tokenizer.ggml.add_bos_token", true);

  std::mt19937_64 rng(s.seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, GgmlType type) {
    std::vector<float> row(static_cast<size_t>(cols));
    std::string data;
    data.reserve(static_cast<size_t>(RowBytes(s.dequantized_twin ? GgmlType::kF32 : type, cols) * rows));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& x : row) x = normal(rng);
      std::string q = QuantizeRow(type, row.data(), cols);
      if (s.dequantized_twin) {
        DequantizeRow(type, q.data(), row.data(), cols);
        data += Bytes(row);
      } else {
        data += q;
      }
    }
    w.AddTensor(name, s.dequantized_twin ? GgmlType::kF32 : type, {cols, rows}, std::move(data));
  };
  auto ones = [&](const std::string& name, int64_t n) { w.AddTensor(name, GgmlType::kF32, {n}, Bytes(std::vector<float>(static_cast<size_t>(n), 1.0f))); };
  auto small = [&](const std::string& name, int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = normal(rng);
    w.AddTensor(name, GgmlType::kF32, {n}, Bytes(v));
  };
  const int64_t hd = s.n_embd / s.n_head;
  matrix("token_embd.weight", s.n_embd, s.n_vocab, s.type);
  for (int64_t i = 0; i < s.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    ones(b + "attn_norm.weight", s.n_embd);
    matrix(b + "attn_q.weight", s.n_embd, s.n_head * hd, s.type);
    matrix(b + "attn_k.weight", s.n_embd, s.n_head_kv * hd, s.type);
    matrix(b + "attn_v.weight", s.n_embd, s.n_head_kv * hd, s.type);
    if (a == "qwen2") {
      small(b + "attn_q.bias", s.n_head * hd);
      small(b + "attn_k.bias", s.n_head_kv * hd);
      small(b + "attn_v.bias", s.n_head_kv * hd);
    }
    if (a == "qwen3") {
      ones(b + "attn_q_norm.weight", hd);
      ones(b + "attn_k_norm.weight", hd);
    }
    matrix(b + "attn_output.weight", s.n_head * hd, s.n_embd, s.type);
    ones(b + "ffn_norm.weight", s.n_embd);
    matrix(b + "ffn_gate.weight", s.n_embd, s.n_ff, s.type);
    matrix(b + "ffn_up.weight", s.n_embd, s.n_ff, s.type);
    matrix(b + "ffn_down.weight", s.n_ff, s.n_embd, s.type);
  }
  ones("output_norm.weight", s.n_embd);
  if (!s.tied_output) matrix("output.weight", s.n_embd, s.n_vocab, s.output_type);
  return w;
}

}  // namespace naut::engine
