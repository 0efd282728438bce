// Checks the forward pass against llama.cpp's reference outputs: prompt tokens exactly, then
// teacher-forced top-5 probabilities within the tolerances the conformance README states per
// model kind, and greedy tokens wherever the reference margin is clear.
//
// Two sources, both found by listing folders so that a reference added there is run too:
//  - ../shared/conformance/reference/*.json and reference/fa_off-kv_f32/*.json, each naming a
//    model in ../shared/conformance/models/;
//  - src/engine/testdata/llama_cpp/*.json: references that bench/engine/llama_cpp.sh made with
//    llama.cpp for random-weight models our GGUF writer builds from the spec stored beside them
//    (qwen2 with biases, BF16, tied output, multi-query attention, ...). The model is rebuilt
//    here and its fingerprint must match the one llama.cpp saw.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/hash.h"
#include "core/json.h"
#include "engine/llama_cpp_tolerance.h"
#include "engine/model.h"
#include "engine/synthetic_model.h"

namespace naut::engine {
namespace {

const std::string kConf = NAUT_SOURCE_DIR "/../shared/conformance/";
const std::string kOwn = NAUT_SOURCE_DIR "/src/engine/testdata/llama_cpp/";

struct Case {
  std::string name;      // test name
  std::string ref_path;  // the reference JSON
  bool exact = false;    // made without flash attention and with an F32 KV cache
  bool own = false;      // model built from the stored spec
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.ref_path; }

Result<Json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseJson(ss.str(), path);
}

void Check(const Case& c, KvType kv_type = KvType::kF32) {
  auto ref = ReadJson(c.ref_path);
  ASSERT_TRUE(ref.ok()) << ref.error().ToString();
  std::string model_path;
  if (c.own) {
    auto spec = SyntheticSpecFromJson((*ref)["spec"]);
    ASSERT_TRUE(spec.ok()) << c.ref_path << ": " << spec.error().ToString();
    const std::string bytes = BuildSyntheticModel(*spec).ToBytes();
    char fp[17];
    std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(Fnv1a64(bytes)));
    ASSERT_EQ(std::string(fp), (*ref)["model_fnv1a64"].get<std::string>())
        << "the GGUF writer no longer builds the model this reference was made for; rerun "
           "bench/engine/llama_cpp.sh refs";
    model_path =
        testing::TempDir() + "naut-ref-" + std::to_string(getpid()) + "-" + c.name + ".gguf";
    std::ofstream(model_path, std::ios::binary) << bytes;
  } else {
    model_path = kConf + "models/" + (*ref)["model"].get<std::string>();
    if (!std::filesystem::exists(model_path))
      GTEST_SKIP() << "conformance data absent: " << model_path;
  }
  auto model = Model::Load(model_path);
  if (c.own) std::filesystem::remove(model_path);
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  if (kv_type == KvType::kQ8_0 && (*model)->params().head_dim % 32 != 0)
    GTEST_SKIP() << "a q8_0 KV cache needs a head size that is a multiple of 32; " << c.name
                 << "'s is " << (*model)->params().head_dim;
  int checked = 0, greedy_checked = 0;
  for (const Json& r : (*ref)["results"]) {
    std::vector<TokenId> prompt = r["prompt_tokens"].get<std::vector<TokenId>>();
    std::vector<TokenId> completion = r["completion_tokens"].get<std::vector<TokenId>>();
    EXPECT_EQ((*model)->tokenizer().Tokenize(r["prompt"].get<std::string>(), true), prompt)
        << c.name;
    auto ctx = Context::Create(**model,
                               {.n_ctx = 512, .n_threads = 2, .n_batch = 512, .kv_type = kv_type});
    ASSERT_TRUE(ctx.ok());
    std::vector<TokenId> all = prompt;
    all.insert(all.end(), completion.begin(), completion.end());
    ASSERT_TRUE((*ctx)->Eval(all, /*all_logits=*/true).ok());
    const int64_t nv = (*model)->params().n_vocab;
    for (size_t i = 0; i < completion.size(); ++i) {
      auto probs = Softmax((*ctx)->logits(static_cast<int>(prompt.size() + i - 1)), nv);
      const auto& top = r["top"][i];
      // An fp16 cache rounds keys and values as llama.cpp's default does: its tolerance is the
      // one for references made that way. A q8_0 cache is held to the same tolerance.
      const Tolerance tol = ToleranceFor((*model)->file(), c.exact && kv_type == KvType::kF32,
                                         top[0][1].get<double>());
      for (const auto& e : top) {
        int id = e[0].get<int>();
        double pref = e[1].get<double>();
        EXPECT_NEAR(probs[id], pref, tol.Of(pref))
            << c.name << " prompt '" << r["prompt"].get<std::string>().substr(0, 20)
            << "' position " << i << " token " << id;
        ++checked;
      }
      // Greedy: our argmax must be the reference token wherever its margin is well above the
      // tolerance.
      double p1 = top[0][1].get<double>(), p2 = top[1][1].get<double>();
      if (std::log(p1 / p2) > 5 * (tol.rel + tol.abs / p2)) {
        int64_t best = std::max_element(probs.begin(), probs.end()) - probs.begin();
        EXPECT_EQ(best, completion[i]) << c.name << " greedy position " << i;
        ++greedy_checked;
      }
    }
  }
  EXPECT_GT(checked, 0);
  testing::Test::RecordProperty("greedy_checked", greedy_checked);
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto scan = [&](const std::string& dir, const std::string& prefix, bool exact, bool own) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& p : files) {
      std::string n = prefix + p.stem().string();
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      cases.push_back({n, p.string(), exact, own});
    }
  };
  scan(kConf + "reference/", "", false, false);
  scan(kConf + "reference/fa_off-kv_f32/", "exact_", true, false);
  scan(kOwn, "own_", true, true);
  return cases;
}

class ReferenceTest : public testing::TestWithParam<Case> {};

TEST_P(ReferenceTest, TopProbabilitiesMatchLlamaCpp) { Check(GetParam()); }
TEST_P(ReferenceTest, TopProbabilitiesMatchLlamaCppWithAnF16KvCache) {
  Check(GetParam(), KvType::kF16);
}
TEST_P(ReferenceTest, TopProbabilitiesMatchLlamaCppWithAQ8_0KvCache) {
  Check(GetParam(), KvType::kQ8_0);
}

INSTANTIATE_TEST_SUITE_P(Conformance, ReferenceTest, testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

// The shared folder is optional, but without it only the own references run: say so.
TEST(ReferenceData, SharedConformanceFolderIsPresent) {
  if (!std::filesystem::exists(kConf + "reference/"))
    GTEST_SKIP() << "conformance data absent: " << kConf << "reference/";
  SUCCEED();
}

}  // namespace
}  // namespace naut::engine
