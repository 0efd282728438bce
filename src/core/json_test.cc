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

TEST(JsonTest, ValidUtf8ReplacesOnlyWhatIsInvalid) {
  const std::string ok = "plain, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80";
  EXPECT_EQ(ValidUtf8(ok), ok);
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8("a\xFF"
                      "b"),
            "a" + fffd + "b");  // stray byte
  EXPECT_EQ(ValidUtf8("a\x80"
                      "b"),
            "a" + fffd + "b");                    // lone continuation
  EXPECT_EQ(ValidUtf8("a\xE2\x82"), "a" + fffd);  // truncated at the end
  EXPECT_EQ(ValidUtf8("\xE2\x82"
                      "x"),
            fffd + "x");                                               // cut by an ASCII byte
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), fffd);                              // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), fffd);                          // surrogate D800
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80"), fffd);                      // past U+10FFFF
  EXPECT_EQ(ValidUtf8(std::string("\0z", 2)), std::string("\0z", 2));  // NUL is valid
  // The result always goes into JSON and back unchanged.
  const std::string mixed = ValidUtf8("\xE2\x96\x81\xB5\xC3(\xF0\x9F\x98");
  auto back = ParseJson(DumpJson(Json(mixed)), "test");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->get<std::string>(), mixed);
}

}  // namespace
}  // namespace naut
