// The bert architecture on tiny random-weight encoders built here: what it computes (checked
// against a plain double-precision forward pass written from the architecture's definition),
// that it attends both ways, and that broken files are refused naming what is wrong. The real
// model against llama-embedding is in embed_test.cc.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include "engine/gguf_writer.h"
#include "engine/model.h"

namespace naut::engine {
namespace {

constexpr int kE = 32, kH = 4, kF = 64, kLayers = 2, kCtx = 16;
const std::vector<std::string> kVocab = {"[PAD]",     "[UNK]",      "[CLS]",     "[SEP]",
                                         "[MASK]",    "\u2581the",  "\u2581dog", "\u2581ran",
                                         "\u2581red", "\u2581ball", "s",         "\u2581."};

// name -> (dims, values) of every tensor of a tiny bert, seeded.
using Tensors = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;

Tensors RandomBert(unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  Tensors t;
  auto add = [&](const std::string& name, std::vector<int64_t> dims, float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = mean + normal(rng);
    t[name] = {std::move(dims), std::move(v)};
  };
  const int64_t V = static_cast<int64_t>(kVocab.size());
  add("token_embd.weight", {kE, V});
  add("position_embd.weight", {kE, kCtx});
  add("token_types.weight", {kE, 2});
  add("token_embd_norm.weight", {kE}, 1.0f);
  add("token_embd_norm.bias", {kE});
  for (int l = 0; l < kLayers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      add(b + m + ".weight", {kE, kE});
      add(b + m + ".bias", {kE});
    }
    add(b + "attn_output_norm.weight", {kE}, 1.0f);
    add(b + "attn_output_norm.bias", {kE});
    add(b + "ffn_up.weight", {kE, kF});
    add(b + "ffn_up.bias", {kF});
    add(b + "ffn_down.weight", {kF, kE});
    add(b + "ffn_down.bias", {kE});
    add(b + "layer_output_norm.weight", {kE}, 1.0f);
    add(b + "layer_output_norm.bias", {kE});
  }
  return t;
}

std::string BertFile(const Tensors& tensors, bool causal = false) {
  GgufWriter w;
  w.AddString("general.architecture", "bert");
  w.AddU32("bert.context_length", kCtx);
  w.AddU32("bert.embedding_length", kE);
  w.AddU32("bert.feed_forward_length", kF);
  w.AddU32("bert.block_count", kLayers);
  w.AddU32("bert.attention.head_count", kH);
  w.AddF32("bert.attention.layer_norm_epsilon", 1e-12f);
  w.AddBool("bert.attention.causal", causal);
  w.AddU32("bert.pooling_type", 1);
  w.AddString("tokenizer.ggml.model", "bert");
  w.AddStringArray("tokenizer.ggml.tokens", kVocab);
  std::vector<int32_t> types(kVocab.size(), 1);
  for (int i = 0; i < 5; ++i) types[static_cast<size_t>(i)] = 3;
  w.AddI32Array("tokenizer.ggml.token_type", types);
  w.AddU32("tokenizer.ggml.bos_token_id", 2);
  w.AddU32("tokenizer.ggml.seperator_token_id", 3);
  w.AddU32("tokenizer.ggml.unknown_token_id", 1);
  for (const auto& [name, tensor] : tensors) {
    const auto& [dims, values] = tensor;
    w.AddTensor(name, GgmlType::kF32, dims,
                std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  }
  return w.ToBytes();
}

Result<std::unique_ptr<Model>> LoadBytes(const std::string& bytes) {
  static int n = 0;
  const std::string path = testing::TempDir() + "naut-bert-" + std::to_string(getpid()) + "-" +
                           std::to_string(n++) + ".gguf";
  std::ofstream(path, std::ios::binary) << bytes;
  auto model = Model::Load(path);
  std::remove(path.c_str());
  return model;
}

// The encoder as its definition reads, in doubles: embeddings summed and LayerNormed; per
// layer softmax(q k^T / sqrt(hd)) v per head over all tokens, output projection, residual,
// LayerNorm; GELU FFN, residual, LayerNorm; then the mean, scaled to unit length.
std::vector<double> PlainBertMean(const Tensors& t, const std::vector<int>& ids) {
  const size_t n = ids.size();
  using Mat = std::vector<std::vector<double>>;
  auto w = [&](const std::string& name) -> const std::vector<float>& { return t.at(name).second; };
  auto linear = [&](const Mat& x, const std::string& name, int in, int out) {
    Mat y(n, std::vector<double>(static_cast<size_t>(out)));
    const auto& W = w(name + ".weight");
    const auto& B = w(name + ".bias");
    for (size_t i = 0; i < n; ++i)
      for (int o = 0; o < out; ++o) {
        double s = B[static_cast<size_t>(o)];
        for (int k = 0; k < in; ++k) s += W[static_cast<size_t>(o) * in + k] * x[i][k];
        y[i][static_cast<size_t>(o)] = s;
      }
    return y;
  };
  auto norm = [&](Mat& x, const std::string& name) {
    for (auto& row : x) {
      double mean = 0, var = 0;
      for (double v : row) mean += v;
      mean /= kE;
      for (double v : row) var += (v - mean) * (v - mean);
      var /= kE;
      for (int i = 0; i < kE; ++i)
        row[i] = (row[i] - mean) / std::sqrt(var + 1e-12) * w(name + ".weight")[i] +
                 w(name + ".bias")[i];
    }
  };
  Mat x(n, std::vector<double>(kE));
  for (size_t i = 0; i < n; ++i)
    for (int d = 0; d < kE; ++d)
      x[i][d] = w("token_embd.weight")[ids[i] * kE + d] + w("position_embd.weight")[i * kE + d] +
                w("token_types.weight")[d];
  norm(x, "token_embd_norm");
  const int hd = kE / kH;
  for (int l = 0; l < kLayers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    Mat q = linear(x, b + "attn_q", kE, kE), k = linear(x, b + "attn_k", kE, kE),
        v = linear(x, b + "attn_v", kE, kE);
    Mat a(n, std::vector<double>(kE, 0.0));
    for (size_t i = 0; i < n; ++i)
      for (int h = 0; h < kH; ++h) {
        std::vector<double> s(n);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j < n; ++j) {
          s[j] = 0;
          for (int d = 0; d < hd; ++d) s[j] += q[i][h * hd + d] * k[j][h * hd + d];
          s[j] /= std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j < n; ++j)
          for (int d = 0; d < hd; ++d) a[i][h * hd + d] += s[j] / sum * v[j][h * hd + d];
      }
    Mat o = linear(a, b + "attn_output", kE, kE);
    for (size_t i = 0; i < n; ++i)
      for (int d = 0; d < kE; ++d) x[i][d] += o[i][d];
    norm(x, b + "attn_output_norm");
    Mat u = linear(x, b + "ffn_up", kE, kF);
    for (auto& row : u)
      for (double& e : row) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
    Mat dn = linear(u, b + "ffn_down", kF, kE);
    for (size_t i = 0; i < n; ++i)
      for (int d = 0; d < kE; ++d) x[i][d] += dn[i][d];
    norm(x, b + "layer_output_norm");
  }
  std::vector<double> mean(kE, 0.0);
  double len = 0;
  for (int d = 0; d < kE; ++d) {
    for (size_t i = 0; i < n; ++i) mean[d] += x[i][d] / static_cast<double>(n);
    len += mean[d] * mean[d];
  }
  for (double& e : mean) e /= std::sqrt(len);
  return mean;
}

TEST(Bert, EmbedsAsThePlainForwardPassDoes) {
  const Tensors tensors = RandomBert(7);
  auto model = LoadBytes(BertFile(tensors));
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  EXPECT_TRUE((*model)->embedding_only());
  auto pooling = PoolingOf(**model);
  ASSERT_TRUE(pooling.ok());
  EXPECT_EQ(*pooling, Pooling::kMean);
  const auto ids = (*model)->tokenizer().Tokenize("The dogs ran.", /*add_special=*/true);
  EXPECT_EQ(ids, (std::vector<TokenId>{2, 5, 6, 10, 7, 11, 3}));  // [CLS] the dog ##s ran . [SEP]
  for (int threads : {1, 2}) {
    auto ctx = Context::Create(**model, {.n_ctx = kCtx, .n_threads = threads});
    ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
    EXPECT_EQ((*ctx)->kv_bytes(), 0u);  // an encoder caches nothing
    auto got = (*ctx)->Embed(ids, Pooling::kMean);
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    const auto want = PlainBertMean(tensors, std::vector<int>(ids.begin(), ids.end()));
    ASSERT_EQ(got->size(), want.size());
    // ggml's tanh GELU (ours too) against the erf GELU of the definition, and F32 sums.
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR((*got)[i], want[i], 2e-3) << i;
  }
}

// Texts encoded together in one pass give what each gives alone: each sees only itself and
// counts its positions from its own start; a pass holds at most n_batch tokens.
TEST(Bert, TextsEmbeddedTogetherGiveWhatEachGivesAlone) {
  auto model = LoadBytes(BertFile(RandomBert(10)));
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  auto ctx = Context::Create(**model, {.n_ctx = kCtx, .n_threads = 2, .n_batch = 12});
  ASSERT_TRUE(ctx.ok());
  const std::vector<std::vector<TokenId>> texts = {
      {2, 5, 6, 3}, {2, 9, 3}, {2, 5, 6, 10, 7, 8, 9, 11, 3}, {2, 3}, {2, 7, 7, 7, 3}};
  for (Pooling pooling : {Pooling::kMean, Pooling::kCls}) {
    auto together = (*ctx)->EmbedBatch(texts, pooling);
    ASSERT_TRUE(together.ok()) << together.error().ToString();
    ASSERT_EQ(together->size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      auto alone = (*ctx)->Embed(texts[i], pooling);
      ASSERT_TRUE(alone.ok());
      for (size_t d = 0; d < alone->size(); ++d)
        EXPECT_NEAR((*together)[i][d], (*alone)[d], 1e-5) << "text " << i;
    }
  }
  auto bad = (*ctx)->EmbedBatch({{2, 3}, {}}, Pooling::kMean);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("text 1"), std::string::npos);
}

TEST(Bert, AttendsBothWaysAndOnlyEmbeds) {
  auto model = LoadBytes(BertFile(RandomBert(8)));
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  auto ctx = Context::Create(**model, {.n_ctx = kCtx, .n_threads = 2});
  ASSERT_TRUE(ctx.ok());
  // The first token's state depends on the tokens after it (a causal model's would not).
  auto a = (*ctx)->Embed({2, 5, 6, 3}, Pooling::kCls);
  auto b = (*ctx)->Embed({2, 5, 9, 3}, Pooling::kCls);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  // Positions count: the same tokens in another order embed differently.
  auto c = (*ctx)->Embed({2, 6, 5, 3}, Pooling::kMean);
  auto d = (*ctx)->Embed({2, 5, 6, 3}, Pooling::kMean);
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_NE(*c, *d);
  EXPECT_EQ((*ctx)->Embed(std::vector<TokenId>(kCtx + 1, 5), Pooling::kMean).error().code(),
            Code::kResourceExhausted);
  auto gen = (*ctx)->Eval({2, 5});
  ASSERT_FALSE(gen.ok());
  EXPECT_NE(gen.message().find("only embeds"), std::string::npos) << gen.ToString();
}

TEST(Bert, BrokenFilesAreRefusedNamingWhatIsWrong) {
  Tensors missing = RandomBert(9);
  missing.erase("blk.1.ffn_up.bias");
  auto m = LoadBytes(BertFile(missing));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Code::kNotFound);
  EXPECT_NE(m.error().message().find("blk.1.ffn_up.bias"), std::string::npos);

  Tensors shape = RandomBert(9);
  shape["blk.0.attn_q.weight"].first = {kE / 2, kE * 2};
  auto s = LoadBytes(BertFile(shape));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_NE(s.error().message().find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(s.error().message().find("expected [32, 32]"), std::string::npos);

  Tensors positions = RandomBert(9);
  positions["position_embd.weight"].first = {kE, kCtx / 2};
  positions["position_embd.weight"].second.resize(kE * kCtx / 2);
  auto p = LoadBytes(BertFile(positions));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("position_embd.weight"), std::string::npos);

  auto causal = LoadBytes(BertFile(RandomBert(9), /*causal=*/true));
  ASSERT_FALSE(causal.ok());
  EXPECT_EQ(causal.error().code(), Code::kUnimplemented);
}

}  // namespace
}  // namespace naut::engine
