// `neuronaut model info|tokenize` and `neuronaut generate` run as real processes on the shared
// conformance models and on broken files.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "core/subprocess.h"
#include "engine/gguf_corpus.h"

namespace naut {
namespace {

using namespace std::chrono_literals;
const std::string kConf = NAUT_SOURCE_DIR "/../shared/conformance/";

CommandResult RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), NAUT_CLI);
  auto r = RunCommand(
      {.argv = args, .env = {{"NEURONAUT_HOME", testing::TempDir() + "/naut-home"}}}, "", 120s);
  EXPECT_TRUE(r) << r.error().ToString();
  return r ? *r : CommandResult{};
}

#define REQUIRE_CONFORMANCE(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "conformance data absent: " << (path)

TEST(EngineCliTest, ModelInfoShowsArchitectureQuantMixAndMetadata) {
  const std::string m = kConf + "models/synth-qwen3-256-Q4_K_M.gguf";
  REQUIRE_CONFORMANCE(m);
  auto r = RunCli({"model", "info", m});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("architecture:  qwen3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Q4_K x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Q6_K x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rope 32 neox"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("can run this model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("general.quantization_version = 2"), std::string::npos) << r.out;
  // The synthetic files carry no chat template; the embedded chat backend would need one named.
  EXPECT_NE(r.out.find("chat format:   the model has no chat template"), std::string::npos)
      << r.out;
}

TEST(EngineCliTest, TokenizePrintsIdsAndPieces) {
  const std::string v = kConf + "tokenizer/ggml-vocab-llama-spm.gguf";
  REQUIRE_CONFORMANCE(v);
  auto r = RunCli({"model", "tokenize", v, "Hello world"});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\t\"<s>\"\n15043\t\" Hello\"\n3186\t\" world\"\n");
}

TEST(EngineCliTest, GenerateStreamsTheGreedyContinuationAndReportsSpeed) {
  const std::string m = kConf + "models/stories260K.gguf";
  REQUIRE_CONFORMANCE(m);
  auto r = RunCli(
      {"generate", "-m", m, "-p", "Once upon a time", "-n", "32", "--temp", "0", "--threads", "2"});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  // llama.cpp's greedy continuation from reference/stories260K.json.
  EXPECT_EQ(r.out.rfind(
                ", there was a little girl named Lily. She loved to play outside in the park.", 0),
            0u)
      << r.out;
  EXPECT_NE(r.err.find("prompt:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
}

TEST(EngineCliTest, GenerateHoldsTheOutputToAGrammarOrSaysWhereItIsWrong) {
  const std::string m = kConf + "models/stories260K.gguf";
  REQUIRE_CONFORMANCE(m);
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/answer.gbnf") << "# a yes or no, then a reason\n"
                                         "root ::= (\"yes\" | \"no\") \", \" [a-z ]{1,20} \".\"\n";
  auto r = RunCli({"generate", "-m", m, "-p", "Once upon a time", "-n", "40", "--temp", "0",
                   "--grammar", dir + "/answer.gbnf"});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  ASSERT_TRUE(r.out.rfind("yes, ", 0) == 0 || r.out.rfind("no, ", 0) == 0) << r.out;
  EXPECT_NE(r.err.find("stopped by eog"), std::string::npos) << r.err;
  std::ofstream(dir + "/bad.gbnf") << "root ::= item+\nitem ::= [a-z\n";
  auto bad = RunCli({"generate", "-m", m, "-p", "x", "--grammar", dir + "/bad.gbnf"});
  EXPECT_EQ(bad.status.exit_code, 1);
  EXPECT_NE(bad.err.find("bad.gbnf: grammar: line 2, column 10: unterminated character class"),
            std::string::npos)
      << bad.err;
  std::ofstream(dir + "/s.json") << R"({"type": "object", "properties": {"n": {"type": "integer",
      "minimum": 1, "maximum": 9}}, "required": ["n"]})";
  auto json =
      RunCli({"generate", "-m", m, "-p", "x", "-n", "40", "--json-schema", dir + "/s.json"});
  EXPECT_EQ(json.status.exit_code, 0) << json.err;
  auto j = ParseJson(json.out, "output");
  ASSERT_TRUE(j.ok()) << json.out;
  EXPECT_TRUE((*j)["n"].is_number_integer()) << json.out;
}

TEST(EngineCliTest, BrokenFilesGiveAClearErrorNotACrash) {
  for (const auto& b : engine::BrokenGgufCorpus()) {
    std::string path = testing::TempDir() + "/broken-" + b.name + ".gguf";
    std::ofstream(path, std::ios::binary) << b.bytes;
    auto r = RunCli({"model", "info", path});
    EXPECT_EQ(r.status.signal, 0) << b.name;
    EXPECT_EQ(r.status.exit_code, 1) << b.name;
    EXPECT_NE(r.err.find(b.expected_error), std::string::npos) << b.name << ": " << r.err;
  }
  auto r = RunCli({"generate", "-m", "/nonexistent/model.gguf", "-p", "x"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
}

TEST(EngineCliTest, VocabularyOnlyFileIsDescribedButNotRun) {
  const std::string v = kConf + "tokenizer/ggml-vocab-gpt-2.gguf";
  REQUIRE_CONFORMANCE(v);
  auto r = RunCli({"model", "info", v});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("cannot run this file"), std::string::npos) << r.out;
  auto g = RunCli({"generate", "-m", v, "-p", "x"});
  EXPECT_EQ(g.status.exit_code, 1);
  EXPECT_NE(g.err.find("not supported"), std::string::npos) << g.err;
}

}  // namespace
}  // namespace naut
