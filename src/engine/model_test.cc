#include "engine/model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "engine/generate.h"
#include "engine/quant.h"
#include "engine/synthetic_model.h"

namespace naut::engine {
namespace {

std::unique_ptr<Model> Build(const SyntheticModelSpec& spec, const std::string& name) {
  // One file per process: ctest runs several tests of this binary at once, and a model file
  // rewritten under another process's mapping corrupts its weights (or raises SIGBUS).
  std::string path = testing::TempDir() + "/" + name + "-" + std::to_string(::getpid()) + ".gguf";
  EXPECT_TRUE(BuildSyntheticModel(spec).WriteTo(path).ok());
  auto m = Model::Load(path);
  EXPECT_TRUE(m.ok()) << m.error().ToString();
  return m.ok() ? std::move(*m) : nullptr;
}

std::vector<float> AllLogits(const Model& m, const std::vector<TokenId>& toks, int threads = 2,
                             int batch = 512) {
  auto ctx = Context::Create(m, {.n_ctx = 256, .n_threads = threads, .n_batch = batch});
  EXPECT_TRUE(ctx.ok());
  EXPECT_TRUE((*ctx)->Eval(toks, true).ok());
  const float* l = (*ctx)->logits(0);
  return std::vector<float>(l, l + toks.size() * m.params().n_vocab);
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

double MaxAbs(const std::vector<float>& a) {
  double d = 0;
  for (float v : a) d = std::max(d, static_cast<double>(std::fabs(v)));
  return d;
}

const std::vector<TokenId> kTokens = {1, 300, 301, 302, 310, 77, 400, 450, 500, 303, 304, 305};

// Sequences evaluated together in one forward pass (a server's slots): each token attends
// only to its own sequence, so each sequence's logits are those it gets alone, whatever shares
// its batch and wherever its cache stands.
TEST(ContextTest, SequencesInOneBatchMatchEachAlone) {
  for (GgmlType type : {GgmlType::kF32, GgmlType::kQ4_K}) {
    SyntheticModelSpec spec{.arch = "qwen2", .type = type, .output_type = type, .seed = 11};
    auto m = Build(spec, std::string("seqs-") + TypeName(type));
    ASSERT_TRUE(m);
    const std::vector<TokenId> a = {1, 300, 301, 302, 310, 77};
    const std::vector<TokenId> b = {1, 400, 450};
    const std::vector<TokenId> a_next = {500, 303}, b_next = {304};
    auto alone = [&](const std::vector<TokenId>& prefix, const std::vector<TokenId>& next) {
      auto ctx = Context::Create(*m, {.n_ctx = 64, .n_threads = 2});
      EXPECT_TRUE(ctx.ok());
      EXPECT_TRUE((*ctx)->Eval(prefix).ok());
      EXPECT_TRUE((*ctx)->Eval(next).ok());
      const float* l = (*ctx)->logits(0);
      return std::vector<float>(l, l + m->params().n_vocab);
    };
    auto ctx = Context::Create(*m, {.n_ctx = 64, .n_threads = 2, .n_seq = 3});
    ASSERT_TRUE(ctx.ok());
    Context& c = **ctx;
    // Both prompts in one batch, then one step of each, sequence 1 left empty.
    ASSERT_TRUE(c.EvalSeqs({{.seq = 2, .tokens = b.data(), .n = 3},
                            {.seq = 0, .tokens = a.data(), .n = 6, .logits = true}})
                    .ok());
    ASSERT_TRUE(c.EvalSeqs({{.seq = 0, .tokens = a_next.data(), .n = 2, .logits = true},
                            {.seq = 2, .tokens = b_next.data(), .n = 1, .logits = true}})
                    .ok());
    const int64_t nv = m->params().n_vocab;
    std::vector<float> got_a(c.logits(0), c.logits(0) + nv), got_b(c.logits(1), c.logits(1) + nv);
    auto want_a = alone(a, a_next), want_b = alone(b, b_next);
    EXPECT_LE(MaxAbsDiff(got_a, want_a), 1e-4 * MaxAbs(want_a)) << TypeName(type);
    EXPECT_LE(MaxAbsDiff(got_b, want_b), 1e-4 * MaxAbs(want_b)) << TypeName(type);
    EXPECT_EQ(c.cached_tokens(0).size(), 8u);
    EXPECT_TRUE(c.cached_tokens(1).empty());
    EXPECT_EQ(c.cached_tokens(2).size(), 4u);
    // Dropping one sequence's tail leaves the others alone.
    c.TruncateSeq(2, 1);
    EXPECT_EQ(c.cached_tokens(2).size(), 1u);
    EXPECT_EQ(c.cached_tokens(0).size(), 8u);
  }
}

TEST(ContextTest, EvalSeqsRefusesBadBatches) {
  auto m = Build(SyntheticModelSpec{.seed = 3}, "seqs-bad");
  ASSERT_TRUE(m);
  auto ctx = Context::Create(*m, {.n_ctx = 8, .n_threads = 1, .n_seq = 2});
  ASSERT_TRUE(ctx.ok());
  const std::vector<TokenId> t = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ((*ctx)->EvalSeqs({{.seq = 2, .tokens = t.data(), .n = 1}}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ((*ctx)
                ->EvalSeqs({{.seq = 1, .tokens = t.data(), .n = 1},
                            {.seq = 1, .tokens = t.data(), .n = 1}})
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ((*ctx)->EvalSeqs({{.seq = 0, .tokens = t.data(), .n = 9}}).code(),
            Code::kResourceExhausted);
  EXPECT_TRUE((*ctx)->cached_tokens(0).empty());
  EXPECT_EQ(Context::Create(*m, {.n_seq = 0}).error().code(), Code::kInvalidArgument);
}

struct QuantCase {
  GgmlType type;
  double tol;  // max |logit - float reference| relative to the largest logit
};

class QuantizedModelTest : public testing::TestWithParam<QuantCase> {};

// The quantized kernels against the plain float forward pass over the same (dequantized)
// weights; the gap is the 8-bit activation quantization of the integer dot products.
TEST_P(QuantizedModelTest, MatchesFloatReferenceOfTheSameWeights) {
  const QuantCase qc = GetParam();
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    SyntheticModelSpec spec{.arch = arch, .type = qc.type, .output_type = qc.type, .seed = 7};
    auto quant = Build(spec, std::string(arch) + "-" + TypeName(qc.type));
    spec.dequantized_twin = true;
    auto twin = Build(spec, std::string(arch) + "-" + TypeName(qc.type) + "-twin");
    ASSERT_TRUE(quant && twin);
    auto ref = AllLogits(*twin, kTokens);
    for (KernelSet ks : {KernelSet::kScalar, KernelSet::kAvx2, KernelSet::kAvx512}) {
      if (!KernelSetSupported(ks)) continue;
      KernelSet prev = SetKernelSet(ks);
      auto got = AllLogits(*quant, kTokens);
      SetKernelSet(prev);
      EXPECT_LE(MaxAbsDiff(got, ref), qc.tol * MaxAbs(ref))
          << arch << " " << TypeName(qc.type) << " kernels " << KernelSetName(ks);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, QuantizedModelTest,
    testing::Values(QuantCase{GgmlType::kF16, 1e-4}, QuantCase{GgmlType::kBF16, 1e-4},
                    QuantCase{GgmlType::kQ8_0, 0.03}, QuantCase{GgmlType::kQ4_0, 0.03},
                    QuantCase{GgmlType::kQ4_1, 0.03}, QuantCase{GgmlType::kQ5_0, 0.03},
                    QuantCase{GgmlType::kQ5_1, 0.03}, QuantCase{GgmlType::kQ4_K, 0.03},
                    QuantCase{GgmlType::kQ5_K, 0.03}, QuantCase{GgmlType::kQ6_K, 0.03}),
    [](const auto& info) { return TypeName(info.param.type); });

TEST(ContextTest, BatchedThreadedAndSequentialEvaluationAgree) {
  auto m = Build({.type = GgmlType::kQ8_0, .output_type = GgmlType::kQ6_K, .seed = 3}, "agree");
  ASSERT_TRUE(m);
  auto batched = AllLogits(*m, kTokens, 2, 512);
  auto one_thread_small_batches = AllLogits(*m, kTokens, 1, 5);
  EXPECT_LE(MaxAbsDiff(batched, one_thread_small_batches), 1e-4 * MaxAbs(batched));
  // Token by token, keeping the last logits each time.
  auto ctx = Context::Create(*m, {.n_ctx = 64, .n_threads = 2});
  ASSERT_TRUE(ctx.ok());
  const int64_t nv = m->params().n_vocab;
  for (size_t i = 0; i < kTokens.size(); ++i) {
    ASSERT_TRUE((*ctx)->Eval({kTokens[i]}).ok());
    std::vector<float> step((*ctx)->logits(0), (*ctx)->logits(0) + nv);
    std::vector<float> want(batched.begin() + i * nv, batched.begin() + (i + 1) * nv);
    ASSERT_LE(MaxAbsDiff(step, want), 1e-4 * MaxAbs(want)) << "position " << i;
  }
}

TEST(ContextTest, PrefixReuseEvaluatesOnlyTheNewSuffix) {
  auto m = Build({.type = GgmlType::kQ4_0, .output_type = GgmlType::kQ8_0, .seed = 5}, "prefix");
  ASSERT_TRUE(m);
  auto ctx = Context::Create(*m, {.n_ctx = 64, .n_threads = 2});
  ASSERT_TRUE(ctx.ok());
  std::vector<TokenId> turn1(kTokens.begin(), kTokens.begin() + 8);
  auto r1 = (*ctx)->EvalPrompt(turn1);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(*r1, 0);
  auto r2 = (*ctx)->EvalPrompt(kTokens);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, 8);
  const int64_t nv = m->params().n_vocab;
  std::vector<float> got((*ctx)->logits(0), (*ctx)->logits(0) + nv);
  auto fresh = AllLogits(*m, kTokens);
  std::vector<float> want(fresh.end() - nv, fresh.end());
  EXPECT_LE(MaxAbsDiff(got, want), 1e-4 * MaxAbs(want));
  // A diverging prompt keeps only the shared part; the same prompt again re-evaluates one token.
  std::vector<TokenId> other = {1, 300, 301, 999 % static_cast<int>(nv)};
  EXPECT_EQ(*(*ctx)->EvalPrompt(other), 3);
  EXPECT_EQ(*(*ctx)->EvalPrompt(other), 3);
  EXPECT_EQ((*ctx)->cached_tokens(), other);
}

TEST(ContextTest, RejectsBadTokensAndFullContext) {
  auto m = Build({.n_ctx = 16, .seed = 9}, "limits");
  ASSERT_TRUE(m);
  auto ctx = Context::Create(*m, {.n_ctx = 100});
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ((*ctx)->n_ctx(), 16);
  EXPECT_EQ((*ctx)->Eval({-1}).code(), Code::kInvalidArgument);
  EXPECT_EQ((*ctx)->Eval({static_cast<TokenId>(m->params().n_vocab)}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ((*ctx)->Eval(std::vector<TokenId>(17, 5)).code(), Code::kResourceExhausted);
}

TEST(ModelTest, RefusesUnsupportedArchitectureAndMissingTensors) {
  GgufWriter w = BuildSyntheticModel({.arch = "llama"});
  std::string path = testing::TempDir() + "/gpt2-" + std::to_string(::getpid()) + ".gguf";
  GgufWriter bad;
  bad.AddString("general.architecture", "gpt2");
  ASSERT_TRUE(bad.WriteTo(path).ok());
  auto m = Model::Load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("architecture 'gpt2' is not supported"), std::string::npos);
}

// A KV cache of `type` holds `bytes_per_value` bytes a key or value (f32: 4) and gives logits
// within `tolerance` (relative to 1 + |logit|) of the f32 cache's, also with several sequences
// in one batch and when decoding on after it.
void ExpectLogitsNearF32(KvType type, double bytes_per_value, double tolerance,
                         int64_t n_head = 8) {
  SCOPED_TRACE(std::string(KvTypeName(type)) + ", heads of " + std::to_string(256 / n_head));
  auto m = Build({.arch = "qwen2",
                  .n_vocab = 300,
                  .n_head = n_head,
                  .n_head_kv = n_head / 2,
                  .seed = 5,
                  .norm_std = 0.3f},
                 "kv");
  ASSERT_TRUE(m);
  auto f32 = Context::Create(*m, {.n_ctx = 64, .n_threads = 2, .n_seq = 2});
  auto other = Context::Create(*m, {.n_ctx = 64, .n_threads = 2, .n_seq = 2, .kv_type = type});
  ASSERT_TRUE(f32.ok() && other.ok());
  EXPECT_DOUBLE_EQ(static_cast<double>((*other)->kv_bytes()) * 4 / bytes_per_value,
                   static_cast<double>((*f32)->kv_bytes()));
  const std::vector<TokenId> a = {1, 20, 33, 47, 5, 81, 90}, b = {1, 7, 7, 120};
  for (auto* ctx : {&*f32, &*other}) {
    ASSERT_TRUE((*ctx)
                    ->EvalSeqs({{.seq = 0, .tokens = a.data(), .n = 7, .logits = true},
                                {.seq = 1, .tokens = b.data(), .n = 4, .logits = true}})
                    .ok());
  }
  const int64_t nv = m->params().n_vocab;
  for (int i = 0; i < 2; ++i) {
    double max_diff = 0, max_abs = 0;
    for (int64_t j = 0; j < nv; ++j) {
      max_diff = std::max(
          max_diff, static_cast<double>(std::fabs((*f32)->logits(i)[j] - (*other)->logits(i)[j])));
      max_abs = std::max(max_abs, static_cast<double>(std::fabs((*f32)->logits(i)[j])));
    }
    EXPECT_LT(max_diff, tolerance * (1 + max_abs)) << "sequence " << i;
    EXPECT_GT(max_diff, 0.0) << "the cache should round something";
  }
  // Decoding on after the batch reads the cache back.
  const TokenId next = 42;
  ASSERT_TRUE((*other)->EvalSeqs({{.seq = 0, .tokens = &next, .n = 1, .logits = true}}).ok());
  ASSERT_TRUE((*f32)->EvalSeqs({{.seq = 0, .tokens = &next, .n = 1, .logits = true}}).ok());
  for (int64_t j = 0; j < nv; ++j)
    ASSERT_NEAR((*other)->logits(0)[j], (*f32)->logits(0)[j],
                tolerance * (1 + std::fabs((*f32)->logits(0)[j])));
}

// An fp16 KV cache holds half the bytes and gives nearly the same logits; a q8_0 one about a
// quarter (34 bytes for 32 values), a little further off (keys, values and the query rounded to
// 8 bits in blocks of 32).
TEST(ContextTest, F16AndQ8_0KvCachesKeepTheLogitsInLessMemory) {
  ExpectLogitsNearF32(KvType::kF16, 2, 2e-3);
  ExpectLogitsNearF32(KvType::kQ8_0, 34.0 / 32, 1e-2);
  // Heads of 64: queries, keys and values rotated before they are quantized, the output back.
  ExpectLogitsNearF32(KvType::kQ8_0, 34.0 / 32, 1e-2, /*n_head=*/4);
  // Blocks of 32 along the head: a head of 16 is refused, saying so.
  auto small = Build({.arch = "llama", .n_head = 16, .n_head_kv = 16, .seed = 5}, "kv-hd16");
  ASSERT_TRUE(small);
  auto refused = Context::Create(*small, {.n_ctx = 64, .kv_type = KvType::kQ8_0});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("multiple of 32; this model's is 16"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(*ParseKvType("f16"), KvType::kF16);
  EXPECT_EQ(*ParseKvType("q8_0"), KvType::kQ8_0);
  EXPECT_FALSE(ParseKvType("q4").ok());
}

// Memory is counted before anything is allocated: a context that would not fit is refused,
// saying what it needs and what to lower.
TEST(ContextTest, AContextThatWouldNotFitIsRefusedSayingWhatItNeeds) {
  auto m = Build({.arch = "llama", .n_ctx = 4096, .seed = 6}, "memory");
  ASSERT_TRUE(m);
  const ContextOptions f32{.n_ctx = 4096, .n_threads = 2, .n_seq = 4};
  ContextOptions f16 = f32;
  f16.kv_type = KvType::kF16;
  const MemoryNeed a = EstimateMemory(*m, f32), b = EstimateMemory(*m, f16);
  EXPECT_EQ(a.kv_cache, 2 * b.kv_cache);
  EXPECT_GT(a.weights, 0u);
  auto ctx = Context::Create(*m, f16);
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  EXPECT_EQ((*ctx)->kv_bytes(), b.kv_cache);

  ContextOptions tight = f16;
  tight.memory = {.total = uint64_t{64} << 30, .available = b.kv_cache / 2};
  auto refused = Context::Create(*m, tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kResourceExhausted);
  EXPECT_NE(refused.error().message().find("KV cache (" + HumanBytes(b.kv_cache) +
                                           ": 4 x 4096 "
                                           "tokens, f16)"),
            std::string::npos)
      << refused.error().message();
  EXPECT_NE(refused.error().message().find("lower the context size"), std::string::npos);
  tight.memory = {.total = a.weights, .available = uint64_t{64} << 30};
  refused = Context::Create(*m, tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("the weights"), std::string::npos)
      << refused.error().message();
  // What this machine reports is plausible.
  const MemoryAvailable sys = SystemMemory();
  EXPECT_GT(sys.total, uint64_t{64} << 20);
  EXPECT_LE(sys.available, sys.total);
}

// Mixture-of-experts metadata that cannot be right is refused with what is wrong; a model with
// experts runs, and a token's output depends only on the experts it chose (checked against
// llama.cpp's outputs in reference_test.cc).
TEST(ModelTest, HostileExpertMetadataIsRefused) {
  auto refused = [](const GgufWriter& w, const std::string& words) {
    std::string path = testing::TempDir() + "/moe-" + std::to_string(::getpid()) + ".gguf";
    ASSERT_TRUE(w.WriteTo(path).ok());
    auto m = Model::Load(path);
    std::filesystem::remove(path);
    ASSERT_FALSE(m.ok()) << words;
    EXPECT_NE(m.error().message().find(words), std::string::npos) << m.error().ToString();
  };
  // A dense file given expert counts: out of range, more used than there are, or in range
  // with none of the expert tensors.
  auto dense_with = [](int64_t count, int64_t used) {
    GgufWriter w = BuildSyntheticModel({.arch = "llama"});
    w.AddU32("llama.expert_count", static_cast<uint32_t>(count));
    w.AddU32("llama.expert_used_count", static_cast<uint32_t>(used));
    return w;
  };
  refused(dense_with(100000, 2), "expert_count = 100000 is out of range");
  refused(dense_with(4, 9), "expert_used_count = 9 must be 1..4");
  refused(dense_with(4, 0), "expert_used_count = 0 must be 1..4");
  refused(dense_with(4, 2), "ffn_gate_inp.weight' is missing");
  // Expert tensors of another width than the metadata says.
  GgufWriter w = BuildSyntheticModel({.arch = "qwen3moe", .n_expert = 4, .n_expert_used = 2});
  w.AddU32("qwen3moe.expert_feed_forward_length", 999);
  refused(w, "ffn_gate_exps.weight' has shape");
  // A mixture-of-experts architecture without experts.
  GgufWriter bare;
  bare.AddString("general.architecture", "qwen2moe");
  bare.AddU32("qwen2moe.embedding_length", 64);
  bare.AddU32("qwen2moe.feed_forward_length", 128);
  bare.AddU32("qwen2moe.block_count", 1);
  bare.AddU32("qwen2moe.attention.head_count", 4);
  refused(bare, "qwen2moe needs experts");
  // And a good one loads with what it says.
  std::string path = testing::TempDir() + "/moe-ok-" + std::to_string(::getpid()) + ".gguf";
  ASSERT_TRUE(BuildSyntheticModel({.arch = "qwen3moe", .n_expert = 4, .n_expert_used = 2})
                  .WriteTo(path)
                  .ok());
  auto ok = Model::Load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ((*ok)->params().n_expert, 4);
  EXPECT_EQ((*ok)->params().n_ff_exp, 512 / 2);
  EXPECT_TRUE((*ok)->params().moe_norm_weights);
}

// RoPE scaling metadata a file may carry wrongly is refused, naming what is wrong; what
// llama.cpp reads is read the same way (its outputs on yarn and linear files are checked in
// reference_test.cc).
TEST(ModelTest, RopeScalingIsReadAsLlamaCppReadsItAndBadValuesAreRefused) {
  auto load = [](const SyntheticModelSpec& spec) {
    std::string path = testing::TempDir() + "/rope-" + std::to_string(::getpid()) + ".gguf";
    EXPECT_TRUE(BuildSyntheticModel(spec).WriteTo(path).ok());
    auto m = Model::Load(path);
    std::filesystem::remove(path);
    return m;
  };
  auto refused = [&](SyntheticModelSpec spec, const std::string& words) {
    auto m = load(spec);
    ASSERT_FALSE(m.ok()) << spec.rope_scaling;
    EXPECT_NE(m.error().message().find(words), std::string::npos) << m.error().ToString();
  };
  refused({.rope_scaling = "bogus", .rope_factor = 2}, "unknown rope scaling type 'bogus'");
  refused({.rope_scaling = "longrope", .rope_factor = 2}, "longrope");
  refused({.rope_scaling = "yarn", .rope_factor = 1e9}, "factor");
  refused({.rope_scaling = "yarn", .rope_factor = 4, .rope_attn_factor = 500}, "attn_factor");
  // Type none ignores the factor; yarn's correction dimensions follow the original context.
  auto none = load({.rope_scaling = "none", .rope_factor = 4});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->params().rope_freq_scale, 1.0f);
  auto yarn =
      load({.n_ctx = 8192, .rope_scaling = "yarn", .rope_factor = 4, .rope_orig_ctx = 2048});
  ASSERT_TRUE(yarn.ok()) << yarn.error().ToString();
  const ModelParams& p = (*yarn)->params();
  EXPECT_EQ(p.rope_freq_scale, 0.25f);
  EXPECT_EQ(p.n_ctx_orig, 2048);
  EXPECT_NEAR(p.rope_mscale, 1.0 + 0.1 * std::log(4.0), 1e-6);
  EXPECT_LT(p.yarn_low, p.yarn_high);
  EXPECT_EQ(p.yarn_ext_factor, 1.0f);
}

// --- generation on the trained stories260K model ---

const std::string kConf = NAUT_SOURCE_DIR "/../shared/conformance/";

TEST(GenerateTest, GreedyMatchesReferenceAndStopsOnStopString) {
  const std::string path = kConf + "models/stories260K.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "conformance data absent: " << path;
  auto m = Model::Load(path);
  ASSERT_TRUE(m.ok());
  std::ifstream in(kConf + "reference/stories260K.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto ref = ParseJson(ss.str(), "stories260K.json");
  ASSERT_TRUE(ref.ok());
  const Json& r0 = (*ref)["results"][0];
  auto ctx = Context::Create(**m, {.n_ctx = 256});
  ASSERT_TRUE(ctx.ok());
  auto prompt = (*m)->tokenizer().Tokenize(r0["prompt"].get<std::string>(), true);
  GenerateOptions o;
  o.max_tokens = 32;
  o.sampling.temperature = 0;
  std::string streamed;
  o.on_text = [&](std::string_view t) {
    streamed += t;
    return true;
  };
  auto res = Generate(**ctx, prompt, o);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->tokens, r0["completion_tokens"].get<std::vector<TokenId>>());
  EXPECT_EQ(res->text, r0["completion_text"].get<std::string>());
  EXPECT_EQ(streamed, res->text);
  EXPECT_EQ(res->stop_reason, "length");

  // Same prompt again: everything but the last prompt token comes from the cache.
  std::string full = res->text;
  size_t cut = full.find(' ', 10);
  ASSERT_NE(cut, std::string::npos);
  o.stop = {full.substr(cut, 4)};
  streamed.clear();
  auto res2 = Generate(**ctx, prompt, o);
  ASSERT_TRUE(res2.ok());
  EXPECT_EQ(res2->n_reused, static_cast<int>(prompt.size()) - 1);
  EXPECT_EQ(res2->stop_reason, "stop");
  EXPECT_EQ(res2->text, full.substr(0, full.find(o.stop[0])));
  EXPECT_EQ(streamed, res2->text);
}

TEST(GenerateTest, SeededSamplingIsReproducible) {
  auto m = Build({.type = GgmlType::kQ4_K, .output_type = GgmlType::kQ6_K, .seed = 11}, "sampling");
  ASSERT_TRUE(m);
  auto run = [&](uint64_t seed) {
    auto ctx = Context::Create(*m, {.n_ctx = 64});
    GenerateOptions o;
    o.max_tokens = 12;
    o.stop_at_eog = false;
    o.sampling = {.temperature = 1.5f,
                  .top_k = 50,
                  .top_p = 0.9f,
                  .min_p = 0.0f,
                  .repeat_penalty = 1.1f,
                  .seed = seed};
    return Generate(**ctx, {1, 300, 301}, o)->tokens;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST(SamplerTest, TruncationsKeepTheRightCandidates) {
  std::vector<float> logits = {1.0f, 5.0f, 4.9f, -3.0f, 0.0f};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler greedy({.temperature = 0});
    EXPECT_EQ(greedy.Sample(logits.data(), 5, {}), 1);
    Sampler top2({.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    TokenId t = top2.Sample(logits.data(), 5, {});
    EXPECT_TRUE(t == 1 || t == 2);
    Sampler minp({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.5f, .seed = seed});
    t = minp.Sample(logits.data(), 5, {});
    EXPECT_TRUE(t == 1 || t == 2);
  }
  // A strong repetition penalty moves greedy off the repeated token.
  Sampler penal({.temperature = 0, .repeat_penalty = 2.0f});
  EXPECT_EQ(penal.Sample(logits.data(), 5, {1}), 2);
}

}  // namespace
}  // namespace naut::engine
