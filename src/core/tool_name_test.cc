#include "core/tool_name.h"

#include <gtest/gtest.h>

namespace naut {
namespace {

TEST(ToolNameTest, JoinsAndSplitsAtTheFirstSeparator) {
  EXPECT_EQ(JoinToolName("rpg", "send_message"), "rpg__send_message");
  auto parts = SplitToolName("rpg__send_message");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->server, "rpg");
  EXPECT_EQ(parts->tool, "send_message");
  parts = SplitToolName("a__b__c");  // a tool's own name may hold the separator
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->server, "a");
  EXPECT_EQ(parts->tool, "b__c");
  EXPECT_FALSE(SplitToolName("send_message"));
  EXPECT_FALSE(SplitToolName("rpg_send"));
  parts = SplitToolName("rpg__");
  ASSERT_TRUE(parts);
  EXPECT_TRUE(parts->tool.empty());
}

TEST(ToolNameTest, ASeparatorMarksAQualifiedName) {
  EXPECT_TRUE(HasToolNameSeparator("rpg__x"));
  EXPECT_TRUE(HasToolNameSeparator("__x"));
  EXPECT_FALSE(HasToolNameSeparator("my_server"));
  EXPECT_FALSE(HasToolNameSeparator(""));
}

}  // namespace
}  // namespace naut
