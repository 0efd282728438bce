#include "core/json.h"

#include <gtest/gtest.h>

namespace naut {
namespace {

TEST(JsonTest, ParseErrorsNameTheSourceAndOffset) {
  auto r = ParseJson("{\"a\": ", "model output");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("model output: invalid JSON at byte"), std::string::npos);
}

TEST(JsonTest, TypedAccessNamesFieldAndTypes) {
  Json j = {{"name", 3}, {"ok", true}};
  auto name = GetString(j, "name", "params");
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().message(), "params: field 'name' must be a string, got integer");
  EXPECT_EQ(GetString(j, "missing", "params").error().message(), "params: missing field 'missing'");
  EXPECT_TRUE(*GetBool(j, "ok", "params"));
  EXPECT_EQ(*GetInt(j, "name", "params"), 3);
  EXPECT_FALSE(GetString(Json::array(), "x", "params"));
}

TEST(JsonTest, DumpNeverThrowsOnInvalidUtf8) {
  Json j = std::string("bad \xff\xfe bytes");
  std::string out = DumpJson(j);
  EXPECT_NE(out.find("bad"), std::string::npos);
}

}  // namespace
}  // namespace naut
