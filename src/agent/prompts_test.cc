#include "agent/prompts.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.h"

namespace naut::agent {
namespace {

TEST(PromptsTest, BuiltinsAreCompiledIn) {
  auto names = BuiltinPromptNames();
  for (const char* n : {"system", "action", "critic", "curriculum", "skill_writer", "decompose",
                        "compact", "reflect"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  auto critic = LoadPrompt("critic");
  ASSERT_TRUE(critic);
  EXPECT_NE(critic->find("\"success\""), std::string::npos);
  EXPECT_EQ(LoadPrompt("nope").error().code(), Code::kNotFound);
}

TEST(PromptsTest, DataHomeOverrideWins) {
  auto dir = std::filesystem::temp_directory_path() / ("naut-prompts-" + NewId());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "critic.txt") << "my critic {{task}}";
  EXPECT_EQ(*LoadPrompt("critic", dir), "my critic {{task}}");
  std::filesystem::remove_all(dir);
}

TEST(PromptsTest, RenderFillsPlaceholdersAndRefusesMissingOnes) {
  EXPECT_EQ(*RenderPrompt("do {{task}} now {{x}}", {{"task", "it"}, {"x", "{{y}}"}}),
            "do it now {{y}}");
  auto r = RenderPrompt("do {{task}}", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("{{task}}"), std::string::npos);
}

}  // namespace
}  // namespace naut::agent
