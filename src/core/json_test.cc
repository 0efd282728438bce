#include "core/json.h"

#include <gtest/gtest.h>

namespace naut {
namespace {

TEST(JsonTest, ParseErrorsNameTheSourceAndOffset) {
  auto r = ParseJson("{\"a\": ", "model output");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("model output: invalid JSON at byte"), std::string::npos);
}

TEST(JsonTest, OrderedParseKeepsMemberOrderAndTheSameLimits) {
  auto r = ParseOrderedJson(R"({"z": 1, "a": {"y": 2, "b": 3}})", "case file");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->dump(), R"({"z":1,"a":{"y":2,"b":3}})");
  auto bad = ParseOrderedJson("[1,", "case file");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("case file: invalid JSON at byte"), std::string::npos);
  auto deep = ParseOrderedJson(
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'), "case file");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code(), Code::kResourceExhausted);
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

TEST(JsonTest, OptionalNumbersAreNulloptWhenAbsentOrNotNumbers) {
  Json j = {{"n", 7}, {"f", 2.0}, {"half", 2.5}, {"s", "7"}, {"huge", 1e300}};
  EXPECT_EQ(GetOptionalInt(j, "n"), 7);
  EXPECT_EQ(GetOptionalInt(j, "f"), 2);
  EXPECT_EQ(GetOptionalInt(j, "half"), std::nullopt);
  EXPECT_EQ(GetOptionalInt(j, "s"), std::nullopt);
  EXPECT_EQ(GetOptionalInt(j, "huge"), std::nullopt);
  EXPECT_EQ(GetOptionalInt(j, "none"), std::nullopt);
  EXPECT_EQ(GetOptionalInt(Json::array(), "n"), std::nullopt);
  EXPECT_EQ(GetOptionalNumber(j, "half"), 2.5);
  EXPECT_EQ(GetOptionalNumber(j, "s"), std::nullopt);
}

TEST(JsonTest, OptionalArgumentsMustHaveTheirTypeWhenGiven) {
  Json j = {{"stdin", "x"}, {"none", nullptr}, {"n", 5}, {"args", {"a", "b"}}, {"mixed", {"a", 1}}};
  EXPECT_EQ(**GetStringIfPresent(j, "stdin", "params"), "x");
  EXPECT_FALSE(GetStringIfPresent(j, "none", "params")->has_value());
  EXPECT_FALSE(GetStringIfPresent(j, "absent", "params")->has_value());
  EXPECT_EQ(GetStringIfPresent(j, "n", "params").error().message(),
            "params: field 'n' must be a string, got integer");
  EXPECT_EQ(**GetNumberIfPresent(j, "n", "params"), 5.0);
  EXPECT_EQ(GetNumberIfPresent(j, "stdin", "params").error().message(),
            "params: field 'stdin' must be a number, got string");
  EXPECT_EQ(**GetStringsIfPresent(j, "args", "params"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(GetStringsIfPresent(j, "mixed", "params").error().message(),
            "params: field 'mixed' must be an array of strings, got integer");
  EXPECT_FALSE(GetStringsIfPresent(j, "stdin", "params"));
  EXPECT_FALSE(GetStringIfPresent(Json::array(), "x", "params"));
}

TEST(JsonTest, DumpNeverThrowsOnInvalidUtf8) {
  Json j = std::string("bad \xff\xfe bytes");
  std::string out = DumpJson(j);
  EXPECT_NE(out.find("bad"), std::string::npos);
}

TEST(JsonTest, ReadableTextKeepsOrderLinesAndNesting) {
  std::string tool = R"({"message_id": 5, "buttons": [{"index": 0, "text": "🌲 Forest"},
      {"index": 1, "text": "🛏 Inn · 10💰", "url": null}], "tags": ["a", "b c", ""],
      "text": "🏰 Oakvale\n❤️ 30/30", "empty": [], "none": {}, "pad": " x"})";
  EXPECT_EQ(JsonAsReadableText(tool),
            "message_id: 5\n"
            "buttons:\n"
            "  - index: 0, text: 🌲 Forest\n"
            "  - index: 1, text: 🛏 Inn · 10💰, url: null\n"
            "tags: [a, b c, \"\"]\n"
            "text: |\n"
            "  🏰 Oakvale\n"
            "  ❤️ 30/30\n"
            "empty: []\n"
            "none: {}\n"
            "pad: \" x\"");
  // Not JSON, a JSON scalar, broken JSON: unchanged.
  EXPECT_EQ(JsonAsReadableText("You walk into the forest."), "You walk into the forest.");
  EXPECT_EQ(JsonAsReadableText("42"), "42");
  EXPECT_EQ(JsonAsReadableText("{\"a\": "), "{\"a\": ");
  EXPECT_EQ(JsonAsReadableText("[]"), "[]");
}

TEST(JsonTest, ReadableTextWritesOnlySmallFlatItemsOnOneLine) {
  // A member that is not a scalar, a line break or a long row keeps the block form.
  EXPECT_EQ(JsonAsReadableText(R"([{"id": 1, "tags": ["a"]}, {"id": 2, "text": "a\nb"}])"),
            "- id: 1\n  tags: [a]\n- id: 2\n  text: |\n    a\n    b");
  std::string long_text(120, 'x');
  EXPECT_EQ(JsonAsReadableText(R"([{"id": 3, "text": ")" + long_text + R"("}])"),
            "- id: 3\n  text: " + long_text);
  // An object that is not in a list is never one line.
  EXPECT_EQ(JsonAsReadableText(R"({"a": {"b": 1}})"), "a:\n  b: 1");
}

TEST(JsonTest, WithoutKeysDropsThemAtAnyDepthAndKeepsOrder) {
  EXPECT_EQ(JsonWithoutKeys(R"([{"id": 5, "date": "x", "in": {"date": 1, "z": 2}}, {"date": 0}])",
                            {"date"}),
            R"([{"id":5,"in":{"z":2}},{}])");
  EXPECT_EQ(JsonWithoutKeys(R"({"b": 1, "a": 2, "c": 3})", {"a", "missing"}), R"({"b":1,"c":3})");
  // No keys, not JSON, broken JSON: unchanged.
  EXPECT_EQ(JsonWithoutKeys(R"({"a": 1})", {}), R"({"a": 1})");
  EXPECT_EQ(JsonWithoutKeys("You walk into the forest.", {"a"}), "You walk into the forest.");
  EXPECT_EQ(JsonWithoutKeys(R"({"a": )", {"a"}), R"({"a": )");
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

std::string Nested(int depth, char open, char close, const std::string& inner = "1") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open == '{' ? std::string("{\"k\":") : std::string(1, open);
  s += inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

TEST(JsonLimitsTest, NestingUpToTheLimitParsesAndOneMoreIsRefused) {
  for (char open : {'[', '{'}) {
    char close = open == '[' ? ']' : '}';
    auto at_limit = ParseJson(Nested(kMaxJsonDepth, open, close), "peer message");
    ASSERT_TRUE(at_limit) << at_limit.error().ToString();
    EXPECT_EQ(JsonDepth(*at_limit), kMaxJsonDepth);
    // What was parsed at the limit can be copied, compared and dumped.
    Json copy = *at_limit;
    EXPECT_EQ(copy, *at_limit);
    EXPECT_EQ(DumpJson(copy), Nested(kMaxJsonDepth, open, close));

    auto over = ParseJson(Nested(kMaxJsonDepth + 1, open, close), "peer message");
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code(), Code::kResourceExhausted);
    EXPECT_NE(over.error().message().find("peer message: JSON nests deeper than 256 levels"),
              std::string::npos)
        << over.error().message();
  }
}

TEST(JsonLimitsTest, HostileDepthIsRefusedWithoutACrash) {
  // 200,000 levels: parsing would succeed, but the first copy or dump of the value would
  // overflow the stack.
  auto r = ParseJson(Nested(200000, '[', ']'), "tools/call params");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  // Unclosed brackets count too: the limit is reached before the text ends.
  EXPECT_EQ(ParseJson(std::string(300000, '['), "x").error().code(), Code::kResourceExhausted);
}

TEST(JsonLimitsTest, BracketsInsideStringsDoNotCount) {
  std::string deep_text(100000, '[');
  Json doc = {{"text", deep_text + std::string(100000, '{') + "\\\"]]"}, {"n", 1}};
  auto r = ParseJson(DumpJson(doc), "tool result");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(*r, doc);
  // Escaped quotes do not end the string early: the brackets after them are still text.
  auto escaped = ParseJson(R"(["\"[[[[", "\\", "\\\"{{{"])", "x");
  ASSERT_TRUE(escaped) << escaped.error().ToString();
  EXPECT_EQ(escaped->size(), 3u);
}

TEST(JsonLimitsTest, SizeLimitIsCheckedBeforeParsing) {
  std::string big = "\"" + std::string(1000, 'a') + "\"";
  EXPECT_TRUE(ParseJson(big, "x", big.size()));
  auto r = ParseJson(big, "skill bundle", big.size() - 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(r.error().message(), "skill bundle: 1002 bytes of JSON exceed the limit of 1001 bytes");
  // Syntax errors stay InvalidArgument, so callers can tell them from refusals.
  EXPECT_EQ(ParseJson("[1,", "x").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseJson("[" + std::to_string(kMaxJsonBytes), "x").error().code(),
            Code::kInvalidArgument);
}

TEST(JsonLimitsTest, PeekReadsTheIdOfARefusedMessage) {
  std::string deep = R"({"jsonrpc":"2.0","result":)" + Nested(200000, '[', ']') +
                     R"(,"id":7,"method":"x","note":"a \"}\" b"})";
  ASSERT_FALSE(ParseJson(deep, "x"));
  Json peeked = PeekJsonMembers(deep, {"id", "method", "jsonrpc"});
  EXPECT_EQ(peeked, (Json{{"id", 7}, {"method", "x"}, {"jsonrpc", "2.0"}}));
  // Members that are containers or not asked for are left out.
  EXPECT_EQ(PeekJsonMembers(R"({"id":[1],"x":2})", {"id"}), Json::object());
  // A cut head yields what precedes the cut, never a value cut short.
  EXPECT_EQ(PeekJsonMembers(R"({"id":"a-1","result":{"content":[1,2)", {"id"}),
            (Json{{"id", "a-1"}}));
  EXPECT_EQ(PeekJsonMembers(R"({"jsonrpc":"2.0","id":1234)", {"id"}), Json::object());
  EXPECT_EQ(PeekJsonMembers("[1,2]", {"id"}), Json::object());
  EXPECT_EQ(PeekJsonMembers("", {"id"}), Json::object());
}

TEST(JsonLimitsTest, DepthOfValues) {
  EXPECT_EQ(JsonDepth(Json(1)), 0);
  EXPECT_EQ(JsonDepth(Json::array()), 1);
  EXPECT_EQ(JsonDepth(Json::parse(R"({"a":[1,{"b":[]}],"c":2})")), 4);
}

}  // namespace
}  // namespace naut
