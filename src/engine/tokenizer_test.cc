#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/gguf.h"

namespace naut::engine {
namespace {

const std::string kDir = NAUT_SOURCE_DIR "/../shared/conformance/tokenizer/";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Splits the .inp file on "\n__ggml_vocab_test__\n" (every case is followed by it).
std::vector<std::string> Cases(const std::string& inp) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) break;
    out.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  return out;
}

std::vector<std::vector<TokenId>> Expected(const std::string& out) {
  std::vector<std::vector<TokenId>> res;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<TokenId> ids;
    TokenId id;
    while (ls >> id) ids.push_back(id);
    res.push_back(ids);
  }
  return res;
}

std::string Show(const std::vector<TokenId>& v) {
  std::string s;
  for (TokenId t : v) s += " " + std::to_string(t);
  return s;
}

class VocabTest : public testing::TestWithParam<std::string> {};

TEST_P(VocabTest, MatchesLlamaCppOnEveryCase) {
  const std::string stem = kDir + "ggml-vocab-" + GetParam() + ".gguf";
  if (!std::filesystem::exists(stem)) GTEST_SKIP() << "conformance data absent: " << stem;
  auto f = GgufFile::Open(stem);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  auto tok = Tokenizer::Create(**f);
  if (!tok.ok() && tok.error().code() == Code::kUnimplemented) GTEST_SKIP() << tok.error().ToString();
  ASSERT_TRUE(tok.ok()) << tok.error().ToString();
  auto cases = Cases(Slurp(stem + ".inp"));
  auto expected = Expected(Slurp(stem + ".out"));
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_GT(cases.size(), 0u);
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto got = (*tok)->Tokenize(cases[i], /*add_special=*/false, /*parse_special=*/false);
    if (got != expected[i]) {
      ++failures;
      ADD_FAILURE() << GetParam() << " case " << i << " '" << cases[i] << "'\n  got:     " << Show(got)
                    << "\n  expected:" << Show(expected[i]);
    } else if (GetParam() != "bert-bge") {
      // Round trip: detokenizing gives the text back (SPM drops the added leading space).
      std::string back = (*tok)->Detokenize(got);
      EXPECT_EQ(back, cases[i]) << GetParam() << " case " << i;
    }
  }
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Conformance, VocabTest,
                         testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm", "falcon",
                                         "starcoder", "mpt", "refact", "bert-bge"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace naut::engine
