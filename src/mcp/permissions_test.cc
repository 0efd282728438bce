#include "mcp/permissions.h"

#include <gtest/gtest.h>

namespace naut::mcp {
namespace {

using Decision = PermissionPolicy::Decision;

TEST(GlobMatch, StarsAndQuestionMarks) {
  EXPECT_TRUE(GlobMatch("*", "fs__read_text_file"));
  EXPECT_TRUE(GlobMatch("fs__*", "fs__read_text_file"));
  EXPECT_TRUE(GlobMatch("rpg__press_*", "rpg__press_inline_button"));
  EXPECT_TRUE(GlobMatch("fs__?ead*", "fs__read_text_file"));
  EXPECT_FALSE(GlobMatch("fs__*", "rpg__send_message"));
  EXPECT_FALSE(GlobMatch("fs__read", "fs__read_text_file"));
}

TEST(IsDestructive, OnlyADestructiveHintThatIsNotReadOnly) {
  EXPECT_TRUE(IsDestructive(Json{{"destructiveHint", true}}));
  EXPECT_TRUE(IsDestructive(Json{{"destructiveHint", true}, {"readOnlyHint", false}}));
  EXPECT_FALSE(IsDestructive(Json{{"destructiveHint", true}, {"readOnlyHint", true}}));
  EXPECT_FALSE(IsDestructive(Json{{"destructiveHint", false}}));
  EXPECT_FALSE(IsDestructive(Json::object()));
  EXPECT_FALSE(IsDestructive(Json()));
}

TEST(PermissionPolicy, DenyWinsAndSaysWhichPattern) {
  PermissionPolicy p{.allow = {"*"}, .deny = {"fs__*"}};
  std::string reason;
  EXPECT_EQ(p.Decide("fs__read_text_file", false, &reason), Decision::kDeny);
  EXPECT_EQ(reason,
            "the permission policy denies fs__read_text_file ([permissions] deny = \"fs__*\")");
  EXPECT_EQ(p.Decide("rpg__send_message", false, &reason), Decision::kAllow);
}

TEST(PermissionPolicy, DestructiveToolsRunOnlyWhenNamed) {
  std::string reason;
  PermissionPolicy star{.allow = {"*"}};
  EXPECT_EQ(star.Decide("fs__write_file", true, &reason), Decision::kDeny);
  EXPECT_EQ(reason,
            "fs__write_file changes or deletes data; it runs only when [permissions] allow names "
            "it (e.g. allow = [\"fs__write_file\"])");
  PermissionPolicy named{.allow = {"*", "fs__write_*"}};
  EXPECT_EQ(named.Decide("fs__write_file", true, &reason), Decision::kAllow);
  // The default table names the fs server's writing tools.
  auto defaults = PermissionPolicy::FromConfig(PermissionsConfig{});
  EXPECT_EQ(defaults.Decide("fs__write_file", true, &reason), Decision::kAllow);
  EXPECT_EQ(defaults.Decide("files__write_file", true, &reason), Decision::kDeny);
  EXPECT_EQ(defaults.Decide("files__read_file", false, &reason), Decision::kAllow);
}

TEST(PermissionPolicy, AllowListsWhatRuns) {
  std::string reason;
  PermissionPolicy p{.allow = {"rpg__*"}};
  EXPECT_EQ(p.Decide("rpg__send_message", false, &reason), Decision::kAllow);
  EXPECT_EQ(p.Decide("fs__read_text_file", false, &reason), Decision::kDeny);
  EXPECT_EQ(reason, "fs__read_text_file is not in [permissions] allow");
  EXPECT_EQ(PermissionPolicy{}.Decide("anything__at_all", false, &reason), Decision::kAllow);
}

TEST(PermissionPolicy, AskedToolsNeedSomeoneToSayYes) {
  PermissionPolicy p{.allow = {"*"}, .ask = {"rpg__press_*"}};
  std::string reason;
  EXPECT_EQ(p.Decide("rpg__press_inline_button", false, &reason), Decision::kAsk);
  // Nobody to ask (the skills server, a run without a terminal): refused.
  EXPECT_EQ(p.Refusal("rpg__press_inline_button", false, Json::object()),
            "the user did not allow rpg__press_inline_button");
  std::string asked_about;
  p.ask_user = [&](const std::string& tool, const Json&) {
    asked_about = tool;
    return true;
  };
  EXPECT_EQ(p.Refusal("rpg__press_inline_button", false, Json::object()), std::nullopt);
  EXPECT_EQ(asked_about, "rpg__press_inline_button");
  EXPECT_EQ(p.Refusal("rpg__send_message", false, Json::object()), std::nullopt);
  p.deny = {"rpg__send_*"};
  EXPECT_EQ(
      p.Refusal("rpg__send_message", false, Json::object()),
      "the permission policy denies rpg__send_message ([permissions] deny = \"rpg__send_*\")");
}

}  // namespace
}  // namespace naut::mcp
