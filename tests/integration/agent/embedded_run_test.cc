// `neuronaut run` on the embedded engine: the learning loop with no model server at all, on the
// shared random-weight llama model. The model writes noise, so the task fails; what is checked
// is that the loop runs its rounds on the in-process backend, the later turns reuse the prompt
// prefix, and the run ends cleanly.

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(EmbeddedRunTest, AgentLoopRunsOnTheInProcessEngine) {
  const std::string model =
      NAUT_SOURCE_DIR "/../shared/conformance/models/llama-2-tiny-random.gguf";
  if (!fs::exists(model)) GTEST_SKIP() << "conformance data absent: " << model;
  const fs::path home = fs::temp_directory_path() / ("naut-embedded-run-" + NewId());
  fs::create_directories(home);
  // ChatML: the tools are part of the system turn, so a conversation that grows keeps its
  // prefix (the Mistral formats write them before the latest user turn instead).
  auto r = RunCommand({.argv = {NAUT_CLI, "--set", "llm.chat_format=chatml", "run", "--env", "rpg",
                                "--max-tasks", "1", "--json"},
                       .env = {{"NEURONAUT_HOME", home.string()},
                               {"LLM_BACKEND", "embedded"},
                               {"LLM_MODEL", model}}},
                      "", 300s);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status.exit_code, 0) << r->err;
  std::vector<Json> calls;
  Json run_end;
  std::istringstream lines(r->out);
  for (std::string line; std::getline(lines, line);) {
    auto e = ParseJson(line, "event");
    ASSERT_TRUE(e.ok()) << line;
    if ((*e)["type"] == "model_call") calls.push_back(*e);
    if ((*e)["type"] == "run_end") run_end = *e;
  }
  ASSERT_GE(calls.size(), 2u) << r->out;
  for (const Json& c : calls) EXPECT_EQ(c["endpoint"], "embedded") << DumpJson(c);
  // Every round after the first extends the same conversation: most of its prompt is cached.
  EXPECT_GT(calls[1]["cached_tokens"].get<int64_t>(), calls[1]["prompt_tokens"].get<int64_t>() / 2)
      << DumpJson(calls[1]);
  EXPECT_EQ(run_end["status"], "finished") << r->out;
  EXPECT_EQ(run_end["tasks"], 1);
  EXPECT_TRUE(fs::exists(home / "PROGRESS.md"));
  fs::remove_all(home);
}

}  // namespace
}  // namespace naut
