#include "engine/synthetic_model.h"

#include <algorithm>
#include <cstring>
#include <iterator>
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
  if (s.n_expert > 0) {
    w.AddU32(a + ".expert_count", static_cast<uint32_t>(s.n_expert));
    w.AddU32(a + ".expert_used_count", static_cast<uint32_t>(s.n_expert_used));
    if (s.n_ff_exp > 0)
      w.AddU32(a + ".expert_feed_forward_length", static_cast<uint32_t>(s.n_ff_exp));
    if (s.n_ff_shexp > 0)
      w.AddU32(a + ".expert_shared_feed_forward_length", static_cast<uint32_t>(s.n_ff_shexp));
  }
  if (!s.rope_scaling.empty()) {
    w.AddString(a + ".rope.scaling.type", s.rope_scaling);
    w.AddF32(a + ".rope.scaling.factor", s.rope_factor);
    if (s.rope_orig_ctx > 0)
      w.AddU32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(s.rope_orig_ctx));
    if (s.rope_attn_factor > 0) w.AddF32(a + ".rope.scaling.attn_factor", s.rope_attn_factor);
  }

  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256 && static_cast<int64_t>(tokens.size()) < s.n_vocab; ++b) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.emplace_back(buf);
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
  // `rows` random rows of `cols` values in `type` (or their dequantized twin) as a tensor of
  // `dims`: a matrix [cols, rows], or n stacked matrices [cols, rows / n, n] (the experts).
  auto tensor = [&](const std::string& name, int64_t cols, int64_t rows, std::vector<int64_t> dims,
                    GgmlType type) {
    std::vector<float> row(static_cast<size_t>(cols));
    std::string data;
    data.reserve(
        static_cast<size_t>(RowBytes(s.dequantized_twin ? GgmlType::kF32 : type, cols) * rows));
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
    w.AddTensor(name, s.dequantized_twin ? GgmlType::kF32 : type, std::move(dims), std::move(data));
  };
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, GgmlType type) {
    tensor(name, cols, rows, {cols, rows}, type);
  };
  auto stacked = [&](const std::string& name, int64_t cols, int64_t rows, int64_t n,
                     GgmlType type) {
    tensor(name, cols, rows * n, {cols, rows, n}, type);
  };
  auto ones = [&](const std::string& name, int64_t n) {
    std::vector<float> v(static_cast<size_t>(n), 1.0f);
    if (s.norm_std > 0)
      for (auto& x : v) x += normal(rng) * (s.norm_std / 0.02f);
    w.AddTensor(name, GgmlType::kF32, {n}, Bytes(v));
  };
  auto small = [&](const std::string& name, int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = normal(rng) * (s.bias_std / 0.02f);
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
    if (a == "qwen2" || a == "qwen2moe") {
      small(b + "attn_q.bias", s.n_head * hd);
      small(b + "attn_k.bias", s.n_head_kv * hd);
      small(b + "attn_v.bias", s.n_head_kv * hd);
    }
    if (a == "qwen3" || a == "qwen3moe") {
      ones(b + "attn_q_norm.weight", hd);
      ones(b + "attn_k_norm.weight", hd);
    }
    matrix(b + "attn_output.weight", s.n_head * hd, s.n_embd, s.type);
    ones(b + "ffn_norm.weight", s.n_embd);
    if (s.n_expert > 0) {
      const bool qwen_moe = a == "qwen2moe" || a == "qwen3moe";
      const int64_t fx =
          s.n_ff_exp > 0 ? s.n_ff_exp : (qwen_moe ? s.n_ff / s.n_expert_used : s.n_ff);
      // The router's weights 10 times the others' (F32), so that its top-k choice is clear-cut
      // and two engines' rounding does not pick different experts.
      std::vector<float> router(static_cast<size_t>(s.n_embd * s.n_expert));
      for (auto& x : router) x = normal(rng) * 10;
      w.AddTensor(b + "ffn_gate_inp.weight", GgmlType::kF32, {s.n_embd, s.n_expert}, Bytes(router));
      stacked(b + "ffn_gate_exps.weight", s.n_embd, fx, s.n_expert, s.type);
      stacked(b + "ffn_up_exps.weight", s.n_embd, fx, s.n_expert, s.type);
      stacked(b + "ffn_down_exps.weight", fx, s.n_embd, s.n_expert, s.type);
      if (a == "qwen2moe") {
        const int64_t sh = s.n_ff_shexp > 0 ? s.n_ff_shexp : s.n_ff;
        matrix(b + "ffn_gate_inp_shexp.weight", s.n_embd, 1, GgmlType::kF32);
        matrix(b + "ffn_gate_shexp.weight", s.n_embd, sh, s.type);
        matrix(b + "ffn_up_shexp.weight", s.n_embd, sh, s.type);
        matrix(b + "ffn_down_shexp.weight", sh, s.n_embd, s.type);
      }
    } else {
      matrix(b + "ffn_gate.weight", s.n_embd, s.n_ff, s.type);
      matrix(b + "ffn_up.weight", s.n_embd, s.n_ff, s.type);
      matrix(b + "ffn_down.weight", s.n_ff, s.n_embd, s.type);
    }
  }
  ones("output_norm.weight", s.n_embd);
  if (!s.tied_output) matrix("output.weight", s.n_embd, s.n_vocab, s.output_type);
  return w;
}

namespace {

constexpr GgmlType kSpecTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                                   GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1,
                                   GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_K,
                                   GgmlType::kQ5_K, GgmlType::kQ6_K};

Result<GgmlType> SpecType(const Json& j, const char* key, GgmlType fallback) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_string()) return InvalidArgument(std::string("spec: ") + key + " is not a string");
  const std::string name = j[key].get<std::string>();
  for (GgmlType t : kSpecTypes)
    if (TypeName(t) == name) return t;
  return InvalidArgument("spec: " + std::string(key) + " '" + name +
                         "' is not one of F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K");
}

}  // namespace

Json SyntheticSpecToJson(const SyntheticModelSpec& s) {
  Json j{{"arch", s.arch},
         {"n_vocab", s.n_vocab},
         {"n_embd", s.n_embd},
         {"n_ff", s.n_ff},
         {"n_layer", s.n_layer},
         {"n_head", s.n_head},
         {"n_head_kv", s.n_head_kv},
         {"n_ctx", s.n_ctx},
         {"type", TypeName(s.type)},
         {"output_type", TypeName(s.output_type)},
         {"tied_output", s.tied_output},
         {"seed", s.seed},
         {"norm_std", s.norm_std},
         {"bias_std", s.bias_std}};
  if (s.n_expert > 0) {
    j["n_expert"] = s.n_expert;
    j["n_expert_used"] = s.n_expert_used;
    j["n_ff_exp"] = s.n_ff_exp;
    j["n_ff_shexp"] = s.n_ff_shexp;
  }
  if (!s.rope_scaling.empty()) {
    j["rope_scaling"] = s.rope_scaling;
    j["rope_factor"] = s.rope_factor;
    j["rope_orig_ctx"] = s.rope_orig_ctx;
    j["rope_attn_factor"] = s.rope_attn_factor;
  }
  return j;
}

Result<SyntheticModelSpec> SyntheticSpecFromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgument("spec: not a JSON object");
  SyntheticModelSpec s;
  static const char* const kKeys[] = {
      "arch",          "n_vocab",          "n_embd",       "n_ff",
      "n_layer",       "n_head",           "n_head_kv",    "n_ctx",
      "type",          "output_type",      "tied_output",  "seed",
      "norm_std",      "bias_std",         "rope_scaling", "rope_factor",
      "rope_orig_ctx", "rope_attn_factor", "n_expert",     "n_expert_used",
      "n_ff_exp",      "n_ff_shexp"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys))
      return InvalidArgument("spec: unknown field '" + key + "'");
  }
  if (j.contains("arch")) {
    if (!j["arch"].is_string()) return InvalidArgument("spec: arch is not a string");
    s.arch = j["arch"].get<std::string>();
    if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3" && s.arch != "qwen2moe" &&
        s.arch != "qwen3moe")
      return InvalidArgument("spec: arch '" + s.arch +
                             "' is not llama, qwen2, qwen3, qwen2moe or qwen3moe");
  }
  struct Size {
    const char* key;
    int64_t* field;
    int64_t max;
  };
  for (const Size& f : {Size{"n_vocab", &s.n_vocab, 1 << 18}, Size{"n_embd", &s.n_embd, 1 << 14},
                        Size{"n_ff", &s.n_ff, 1 << 16}, Size{"n_layer", &s.n_layer, 256},
                        Size{"n_head", &s.n_head, 256}, Size{"n_head_kv", &s.n_head_kv, 256},
                        Size{"n_ctx", &s.n_ctx, 1 << 20}}) {
    if (!j.contains(f.key)) continue;
    if (!j[f.key].is_number_integer() || j[f.key].get<int64_t>() <= 0 ||
        j[f.key].get<int64_t>() > f.max)
      return InvalidArgument(std::string("spec: ") + f.key + " must be an integer in 1.." +
                             std::to_string(f.max));
    *f.field = j[f.key].get<int64_t>();
  }
  if (s.n_vocab < 3 + 256)
    return InvalidArgument("spec: n_vocab must hold the 3 special and 256 byte tokens");
  if (s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0 || (s.n_embd / s.n_head) % 2 != 0)
    return InvalidArgument("spec: n_embd / n_head / n_head_kv do not give an even head size");
  NAUT_ASSIGN_OR_RETURN(s.type, SpecType(j, "type", s.type));
  NAUT_ASSIGN_OR_RETURN(s.output_type, SpecType(j, "output_type", s.output_type));
  for (GgmlType t : {s.type, s.output_type}) {
    const int64_t block = GetTypeTraits(static_cast<uint32_t>(t))->block_size;
    if (s.n_embd % block != 0 || s.n_ff % block != 0 ||
        (s.n_embd / s.n_head) * s.n_head % block != 0)
      return InvalidArgument("spec: n_embd and n_ff must be multiples of " + TypeName(t) +
                             "'s block of " + std::to_string(block));
  }
  if (j.contains("tied_output")) {
    if (!j["tied_output"].is_boolean()) return InvalidArgument("spec: tied_output is not a bool");
    s.tied_output = j["tied_output"].get<bool>();
  }
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned()) return InvalidArgument("spec: seed is not unsigned");
    s.seed = j["seed"].get<uint64_t>();
  }
  for (auto [key, field] :
       {std::pair{"norm_std", &s.norm_std}, std::pair{"bias_std", &s.bias_std}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number() || j[key].get<double>() < 0 || j[key].get<double>() > 10)
      return InvalidArgument(std::string("spec: ") + key + " must be a number in 0..10");
    *field = j[key].get<float>();
  }
  if (j.contains("rope_scaling")) {
    if (!j["rope_scaling"].is_string())
      return InvalidArgument("spec: rope_scaling is not a string");
    s.rope_scaling = j["rope_scaling"].get<std::string>();
  }
  for (auto [key, field] : {std::pair{"rope_factor", &s.rope_factor},
                            std::pair{"rope_attn_factor", &s.rope_attn_factor}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number() || j[key].get<double>() < 0 || j[key].get<double>() > 1000)
      return InvalidArgument(std::string("spec: ") + key + " must be a number in 0..1000");
    *field = j[key].get<float>();
  }
  for (auto [key, field] :
       {std::pair{"n_expert", &s.n_expert}, std::pair{"n_expert_used", &s.n_expert_used},
        std::pair{"n_ff_exp", &s.n_ff_exp}, std::pair{"n_ff_shexp", &s.n_ff_shexp}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0 ||
        j[key].get<int64_t>() > (1 << 16))
      return InvalidArgument(std::string("spec: ") + key + " must be an integer in 0..65536");
    *field = j[key].get<int64_t>();
  }
  if (s.n_expert > 0 && (s.n_expert_used < 1 || s.n_expert_used > s.n_expert))
    return InvalidArgument("spec: n_expert_used must be 1..n_expert");
  if ((s.arch == "qwen2moe" || s.arch == "qwen3moe") && s.n_expert == 0)
    return InvalidArgument("spec: " + s.arch + " needs n_expert");
  if (j.contains("rope_orig_ctx")) {
    if (!j["rope_orig_ctx"].is_number_integer() || j["rope_orig_ctx"].get<int64_t>() < 0 ||
        j["rope_orig_ctx"].get<int64_t>() > (1 << 20))
      return InvalidArgument("spec: rope_orig_ctx must be an integer in 0..1048576");
    s.rope_orig_ctx = j["rope_orig_ctx"].get<int64_t>();
  }
  return s;
}

}  // namespace naut::engine
