#include "llm/json_repair.h"

#include <gtest/gtest.h>

namespace naut::llm {
namespace {

Json Repair(std::string_view text) {
  RepairReport report;
  auto r = ParseJsonLenient(text, &report);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.error().ToString();
  return r.ok() ? *r : Json();
}

TEST(JsonRepairTest, StrictJsonIsNotReported) {
  RepairReport report;
  auto r = ParseJsonLenient(R"({"a": [1, 2]})", &report);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(report.repaired);
  EXPECT_EQ((*r)["a"][1], 2);
}

TEST(JsonRepairTest, TrailingCommas) {
  EXPECT_EQ(Repair(R"({"a": 1, "b": [1, 2,],})"), Json::parse(R"({"a":1,"b":[1,2]})"));
}

TEST(JsonRepairTest, SingleQuotesAndPythonLiterals) {
  EXPECT_EQ(Repair("{'a': 'it is', 'b': True, 'c': None}"),
            Json::parse(R"({"a":"it is","b":true,"c":null})"));
}

TEST(JsonRepairTest, BareKeysAndValues) {
  EXPECT_EQ(Repair("{chat: general, limit: 5}"), Json::parse(R"({"chat":"general","limit":5})"));
}

TEST(JsonRepairTest, CutStreamClosesStringsAndBrackets) {
  RepairReport report;
  auto r = ParseJsonLenient(R"({"text": "hello wor)", &report);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["text"], "hello wor");
  EXPECT_TRUE(report.repaired);
  EXPECT_FALSE(report.fixes.empty());
  EXPECT_EQ(Repair(R"({"a": {"b": [1, 2)"), Json::parse(R"({"a":{"b":[1,2]}})"));
  EXPECT_EQ(Repair(R"({"a": )"), Json::parse(R"({"a":null})"));
  EXPECT_EQ(Repair(R"({"a)"), Json::parse(R"({"a":null})"));
}

TEST(JsonRepairTest, UnescapedQuotesAndNewlinesInStrings) {
  EXPECT_EQ(Repair("{\"text\": \"he said \"hi\" to me\"}")["text"], "he said \"hi\" to me");
  EXPECT_EQ(Repair("{\"text\": \"line one\nline two\"}")["text"], "line one\nline two");
}

TEST(JsonRepairTest, MissingCommasAndComments) {
  EXPECT_EQ(Repair("{\"a\": 1 \"b\": 2 // the second\n}"), Json::parse(R"({"a":1,"b":2})"));
}

TEST(JsonRepairTest, TextAfterTheValueIsIgnored) {
  RepairReport report;
  auto r = ParseJsonLenient(R"({"a": 1} and then some prose)", &report);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["a"], 1);
}

TEST(JsonRepairTest, HopelessTextIsAnError) {
  EXPECT_FALSE(ParseJsonLenient("").ok());
  EXPECT_FALSE(ParseJsonLenient("   ").ok());
  auto r = ParseJsonLenient("}}}");
  EXPECT_FALSE(r.ok());
}

TEST(JsonRepairTest, FindJsonEndRespectsStrings) {
  std::string_view text = R"(x {"a": "}"} y)";
  EXPECT_EQ(FindJsonEnd(text, 2), text.size() - 2);
  EXPECT_EQ(FindJsonEnd(R"({"a": 1)", 0), std::string_view::npos);
}

TEST(JsonRepairTest, NeverThrowsOnGarbage) {
  const char* inputs[] = {
      "{",      "[",           "\"",          "'",   "{'",  "{\"a\":", "[1,,,2", "{\"a\" \"b\"}",
      "{\\u12", "{\"\\u12\"}", "{\"a\":\"\\", "nul", "{:}", "[}",      "{]",     "-",
      "+.e",    "{a:b:c}",     "\x01\x02{"};
  for (const char* in : inputs) {
    auto r = ParseJsonLenient(in);
    (void)r;  // either outcome is fine; it must not crash or throw
  }
}

TEST(JsonRepairTest, HostileNestingIsRefusedNotRepairedOrRecursedInto) {
  // Closed, unclosed and almost-JSON arrays: none may crash, none is "repaired" into a deep
  // value.
  for (const std::string& text :
       {std::string(200000, '[') + std::string(200000, ']'), std::string(200000, '['),
        "{\"a\": " + std::string(200000, '[') + "1,", std::string(300, '[') + "'x'"}) {
    RepairReport report;
    auto r = ParseJsonLenient(text, &report);
    ASSERT_FALSE(r.ok()) << text.substr(0, 20);
    EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
    EXPECT_NE(r.error().message().find("nests deeper than 256 levels"), std::string::npos)
        << r.error().message();
  }
  // Braces in key position are strays the repairer drops, however many there are.
  auto braces = ParseJsonLenient(std::string(200000, '{'));
  ASSERT_TRUE(braces.ok()) << braces.error().ToString();
  EXPECT_EQ(*braces, Json::object());
  // Up to the limit, a cut answer is still closed as before.
  auto ok = ParseJsonLenient(std::string(kMaxJsonDepth, '[') + "'x'");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(JsonDepth(*ok), kMaxJsonDepth);
}

}  // namespace
}  // namespace naut::llm

namespace naut::llm {
namespace {

// Found by fuzz/json_fuzzer.cc: a bare word with a stray byte made the repairer throw.
TEST(JsonRepairTest, InvalidUtf8InABareWordIsReplacedNotThrown) {
  auto r = ParseJsonLenient("{\"text\": hi\xad there}");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ((*r)["text"], "hi\xEF\xBF\xBD there");
}

}  // namespace
}  // namespace naut::llm
