// Context::Embed against llama.cpp's embeddings mode (what llama-server's /v1/embeddings and
// llama-embedding answer for a causal model), from `bench/engine/llama_cpp.sh refs-embed`:
//  - testdata/llama_cpp_embed/<synth>.json: random-weight models our GGUF writer builds from the
//    spec stored beside them (F32, Q4_0, Q5_K), each prompt pooled mean, cls and last;
//  - testdata/llama_cpp_embed/real-<model>.json: the real models of scripts/models.tsv, mean
//    pooling (skipped, saying how to fetch it, when the model is absent from ./models);
//  - testdata/llama_cpp_embed/bert-<model>.json: the BERT embedding model scripts/embed_model.sh
//    makes, as llama-embedding computes it from the same file (`llama_cpp.sh refs-bert`).
// The prompt's tokens must be llama.cpp's exactly and the unit vectors nearly the same.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/hash.h"
#include "core/json.h"
#include "engine/model.h"
#include "engine/synthetic_model.h"

namespace naut::engine {
namespace {

const std::string kRefs = NAUT_SOURCE_DIR "/src/engine/testdata/llama_cpp_embed/";
const std::string kModels = NAUT_SOURCE_DIR "/models/";

Result<Json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseJson(ss.str(), path);
}

std::vector<std::string> RefFiles() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kRefs, ec))
    if (e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// How near ours must be: the same model in the same precision gives nearly the same vector;
// quantized weights and activations leave rounding that accumulates over the layers.
struct Bound {
  double min_cosine, max_abs;
};

Bound BoundFor(const std::string& type) {
  if (type == "F32") return {0.99999, 1e-3};
  return {0.9999, 0.002};
}

void CheckEmbeddings(const Model& model, const Json& ref, const Bound& bound,
                     const std::string& name) {
  auto ctx = Context::Create(model, {.n_ctx = 512, .n_threads = 2, .n_batch = 512});
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  int checked = 0;
  double worst_cosine = 1.0, worst_abs = 0.0;
  for (const Json& r : ref["results"]) {
    const std::string prompt = r["prompt"].get<std::string>();
    const auto want_tokens = r["prompt_tokens"].get<std::vector<TokenId>>();
    ASSERT_EQ(model.tokenizer().Tokenize(prompt, true), want_tokens) << name << ": " << prompt;
    auto pooling = ParsePooling(r["pooling"].get<std::string>());
    ASSERT_TRUE(pooling.ok()) << pooling.error().ToString();
    auto got = (*ctx)->Embed(want_tokens, *pooling);
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    const auto want = r["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got->size(), want.size()) << name;
    double dot = 0, na = 0, nb = 0, max_abs = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      dot += static_cast<double>((*got)[i]) * want[i];
      na += static_cast<double>((*got)[i]) * (*got)[i];
      nb += static_cast<double>(want[i]) * want[i];
      max_abs = std::max(max_abs, std::fabs(static_cast<double>((*got)[i]) - want[i]));
    }
    const double cosine = dot / std::sqrt(na * nb);
    worst_cosine = std::min(worst_cosine, cosine);
    worst_abs = std::max(worst_abs, max_abs);
    EXPECT_NEAR(na, 1.0, 1e-4) << name << ": ours is not a unit vector";
    EXPECT_GE(cosine, bound.min_cosine) << name << " " << r["pooling"] << " '" << prompt << "'";
    EXPECT_LE(max_abs, bound.max_abs) << name << " " << r["pooling"] << " '" << prompt << "'";
    // The context is left empty: the next text does not see this one.
    EXPECT_EQ((*ctx)->n_past(), 0);
    ++checked;
  }
  EXPECT_GT(checked, 0) << name;
  testing::Test::RecordProperty(name, "worst cosine " + std::to_string(worst_cosine) +
                                          ", largest difference " + std::to_string(worst_abs));
}

TEST(EmbedReference, SyntheticModelsMatchLlamaCpp) {
  int files = 0;
  for (const std::string& file : RefFiles()) {
    if (file.starts_with("real-") || file.starts_with("bert-")) continue;
    SCOPED_TRACE(file);
    auto ref = ReadJson(kRefs + file);
    ASSERT_TRUE(ref.ok()) << ref.error().ToString();
    auto spec = SyntheticSpecFromJson((*ref)["spec"]);
    ASSERT_TRUE(spec.ok()) << spec.error().ToString();
    const std::string bytes = BuildSyntheticModel(*spec).ToBytes();
    char fp[17];
    std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(Fnv1a64(bytes)));
    ASSERT_EQ(std::string(fp), (*ref)["model_fnv1a64"].get<std::string>())
        << "the GGUF writer no longer builds the model this reference was made for; rerun "
           "bench/engine/llama_cpp.sh refs-embed";
    const std::string path =
        testing::TempDir() + "naut-embed-" + std::to_string(getpid()) + "-" + file + ".gguf";
    std::ofstream(path, std::ios::binary) << bytes;
    auto model = Model::Load(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(model.ok()) << model.error().ToString();
    CheckEmbeddings(**model, *ref, BoundFor((*ref)["spec"]["type"].get<std::string>()), file);
    ++files;
  }
  EXPECT_GE(files, 3) << "references missing from " << kRefs;
}

TEST(EmbedReference, RealModelsMatchLlamaCpp) {
  int files = 0;
  for (const std::string& file : RefFiles()) {
    if (!file.starts_with("real-")) continue;
    SCOPED_TRACE(file);
    auto ref = ReadJson(kRefs + file);
    ASSERT_TRUE(ref.ok()) << ref.error().ToString();
    const std::string path = kModels + (*ref)["file"].get<std::string>();
    if (!std::filesystem::exists(path)) {
      std::cout << "[ SKIPPED  ] " << file << ": " << path << " is absent (scripts/models.sh "
                << (*ref)["model"].get<std::string>() << " fetches it)\n";
      continue;
    }
    auto model = Model::Load(path);
    ASSERT_TRUE(model.ok()) << model.error().ToString();
    // 4-bit real models: the rounding of every layer, in both engines (cosine 0.9996 seen).
    CheckEmbeddings(**model, *ref, {0.998, 0.02}, file);
    ++files;
  }
  if (files == 0) GTEST_SKIP() << "no real model of " << kRefs << " is in " << kModels;
}

TEST(EmbedReference, BertModelMatchesLlamaEmbedding) {
  int files = 0;
  for (const std::string& file : RefFiles()) {
    if (!file.starts_with("bert-")) continue;
    SCOPED_TRACE(file);
    auto ref = ReadJson(kRefs + file);
    ASSERT_TRUE(ref.ok()) << ref.error().ToString();
    const std::string path = kModels + (*ref)["file"].get<std::string>();
    if (!std::filesystem::exists(path)) {
      std::cout << "[ SKIPPED  ] " << file << ": " << path
                << " is absent (scripts/embed_model.sh makes it)\n";
      continue;
    }
    auto model = Model::Load(path);
    ASSERT_TRUE(model.ok()) << model.error().ToString();
    ASSERT_TRUE((*model)->embedding_only());
    // F32 weights in both engines; the GELUs and sums differ in rounding only.
    CheckEmbeddings(**model, *ref, {0.99999, 5e-4}, file);
    ++files;
  }
  if (files == 0) GTEST_SKIP() << "the BERT model of " << kRefs << " is not in " << kModels;
}

// Embed's own contract, on a model built here: texts differ, pooling matters, bad input is
// refused without touching the cache.
TEST(Embed, RefusesWhatItCannotEmbedAndLeavesTheCacheAsItWas) {
  SyntheticModelSpec spec;
  auto model = Model::Load([&] {
    const std::string path = testing::TempDir() + "naut-embed-own-" + std::to_string(getpid());
    std::ofstream(path, std::ios::binary) << BuildSyntheticModel(spec).ToBytes();
    return path;
  }());
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  auto ctx = Context::Create(**model, {.n_ctx = 32, .n_threads = 2, .n_batch = 8});
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ((*ctx)->Embed({}, Pooling::kMean).error().code(), Code::kInvalidArgument);
  EXPECT_EQ((*ctx)->Embed({1, -2}, Pooling::kMean).error().code(), Code::kInvalidArgument);
  EXPECT_EQ((*ctx)->Embed(std::vector<TokenId>(33, 1), Pooling::kMean).error().code(),
            Code::kResourceExhausted);
  // Longer than a batch: the mean covers every batch, and equals the one-batch answer.
  std::vector<TokenId> text;
  for (int i = 0; i < 20; ++i) text.push_back(1 + (i * 7) % 50);
  auto batched = (*ctx)->Embed(text, Pooling::kMean);
  ASSERT_TRUE(batched.ok());
  auto whole_ctx = Context::Create(**model, {.n_ctx = 32, .n_threads = 2, .n_batch = 32});
  ASSERT_TRUE(whole_ctx.ok());
  auto whole = (*whole_ctx)->Embed(text, Pooling::kMean);
  ASSERT_TRUE(whole.ok());
  for (size_t i = 0; i < whole->size(); ++i) EXPECT_NEAR((*batched)[i], (*whole)[i], 1e-4);
  // The last token's state is not the mean, and another text gives another vector.
  auto last = (*ctx)->Embed(text, Pooling::kLast);
  auto other = (*ctx)->Embed({3, 4, 5}, Pooling::kMean);
  ASSERT_TRUE(last.ok() && other.ok());
  EXPECT_NE(*last, *batched);
  EXPECT_NE(*other, *batched);
  // Generation on the same context afterwards starts from an empty cache.
  EXPECT_EQ((*ctx)->n_past(), 0);
  ASSERT_TRUE((*ctx)->Eval({1, 2, 3}).ok());
  EXPECT_EQ((*ctx)->n_past(), 3);
}

TEST(Embed, PoolingNames) {
  EXPECT_EQ(*ParsePooling("mean"), Pooling::kMean);
  EXPECT_EQ(*ParsePooling("cls"), Pooling::kCls);
  EXPECT_EQ(*ParsePooling("last"), Pooling::kLast);
  auto bad = ParsePooling("max");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("mean, cls or last"), std::string::npos);
}

}  // namespace
}  // namespace naut::engine
