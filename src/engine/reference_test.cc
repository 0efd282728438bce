// Checks the forward pass against llama.cpp's reference outputs in ../shared/conformance:
// prompt tokens exactly, then teacher-forced top-5 probabilities within the tolerances that
// the conformance README states per model kind, and greedy tokens wherever the reference
// margin is clear.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "engine/model.h"

namespace naut::engine {
namespace {

const std::string kConf = NAUT_SOURCE_DIR "/../shared/conformance/";

struct Case {
  std::string model;
  double rel_tol;  // |dp| <= rel_tol * p + abs_tol
  double abs_tol;
};

std::vector<double> Softmax(const float* logits, int64_t n) {
  double mx = -1e300;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (p[i] = std::exp(logits[i] - mx));
  for (auto& v : p) v /= sum;
  return p;
}

void CheckAgainst(const Case& c, const std::string& ref_path) {
  const std::string model_path = kConf + "models/" + c.model;
  if (!std::filesystem::exists(model_path) || !std::filesystem::exists(ref_path)) {
    GTEST_SKIP() << "conformance data absent: " << model_path;
  }
  auto model = Model::Load(model_path);
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  std::ifstream in(ref_path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto ref = ParseJson(ss.str(), ref_path);
  ASSERT_TRUE(ref.ok());
  int checked = 0, greedy_checked = 0;
  for (const Json& r : (*ref)["results"]) {
    std::vector<TokenId> prompt = r["prompt_tokens"].get<std::vector<TokenId>>();
    std::vector<TokenId> completion = r["completion_tokens"].get<std::vector<TokenId>>();
    EXPECT_EQ((*model)->tokenizer().Tokenize(r["prompt"].get<std::string>(), true), prompt) << c.model;
    auto ctx = Context::Create(**model, {.n_ctx = 512, .n_threads = 2, .n_batch = 512});
    ASSERT_TRUE(ctx.ok());
    std::vector<TokenId> all = prompt;
    all.insert(all.end(), completion.begin(), completion.end());
    ASSERT_TRUE((*ctx)->Eval(all, /*all_logits=*/true).ok());
    const int64_t nv = (*model)->params().n_vocab;
    for (size_t i = 0; i < completion.size(); ++i) {
      auto probs = Softmax((*ctx)->logits(static_cast<int>(prompt.size() + i - 1)), nv);
      const auto& top = r["top"][i];
      for (const auto& e : top) {
        int id = e[0].get<int>();
        double pref = e[1].get<double>();
        double tol = c.rel_tol * pref + c.abs_tol;
        EXPECT_NEAR(probs[id], pref, tol) << c.model << " prompt '" << r["prompt"].get<std::string>().substr(0, 20)
                                           << "' position " << i << " token " << id;
        ++checked;
      }
      // Greedy: our argmax must be the reference token wherever its margin is well above the tolerance.
      double p1 = top[0][1].get<double>(), p2 = top[1][1].get<double>();
      if (std::log(p1 / p2) > 5 * (c.rel_tol + c.abs_tol / p2)) {
        int64_t best = std::max_element(probs.begin(), probs.end()) - probs.begin();
        EXPECT_EQ(best, completion[i]) << c.model << " greedy position " << i;
        ++greedy_checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
  testing::Test::RecordProperty("greedy_checked", greedy_checked);
}

class ReferenceTest : public testing::TestWithParam<Case> {};

TEST_P(ReferenceTest, TopProbabilitiesMatchLlamaCpp) {
  CheckAgainst(GetParam(), kConf + "reference/" + GetParam().model.substr(0, GetParam().model.size() - 5) + ".json");
}

INSTANTIATE_TEST_SUITE_P(
    Conformance, ReferenceTest,
    testing::Values(Case{"stories260K.gguf", 0.03, 0}, Case{"llama-2-tiny-random.gguf", 0.03, 1e-9},
                    Case{"synth-llama-256.gguf", 0.03, 0}, Case{"synth-qwen3-256.gguf", 0.03, 0},
                    Case{"stories260K-Q8_0.gguf", 0, 0.06}, Case{"stories260K-Q4_0.gguf", 0, 0.06},
                    Case{"synth-llama-256-Q8_0.gguf", 0.05, 0}, Case{"synth-llama-256-Q4_0.gguf", 0.05, 0},
                    Case{"synth-llama-256-Q4_K_M.gguf", 0.05, 0}, Case{"synth-llama-256-Q5_K_M.gguf", 0.05, 0},
                    Case{"synth-llama-256-Q6_K.gguf", 0.05, 0}, Case{"synth-qwen3-256-Q4_K_M.gguf", 0.05, 0}),
    [](const auto& info) {
      std::string n = info.param.model.substr(0, info.param.model.size() - 5);
      for (char& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

class ExactReferenceTest : public testing::TestWithParam<Case> {};

// Against llama.cpp run without flash attention and with an F32 KV cache (close to exact math).
TEST_P(ExactReferenceTest, TopProbabilitiesMatchExactReference) {
  CheckAgainst(GetParam(), kConf + "reference/fa_off-kv_f32/" +
                               GetParam().model.substr(0, GetParam().model.size() - 5) + ".json");
}

INSTANTIATE_TEST_SUITE_P(Conformance, ExactReferenceTest,
                         testing::Values(Case{"stories260K.gguf", 1e-4, 0}, Case{"synth-llama-256.gguf", 2e-3, 0},
                                         Case{"synth-qwen3-256.gguf", 2e-3, 0}),
                         [](const auto& info) {
                           std::string n = info.param.model.substr(0, info.param.model.size() - 5);
                           for (char& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace naut::engine
