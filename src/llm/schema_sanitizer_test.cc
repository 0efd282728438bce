#include "llm/schema_sanitizer.h"

#include <gtest/gtest.h>

namespace naut::llm {
namespace {

bool HasNote(const SanitizedSchema& s, const std::string& needle) {
  for (const auto& n : s.notes) {
    if (n.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(SchemaSanitizerTest, CleanSchemaPassesUnchanged) {
  Json schema =
      Json::parse(R"({"type":"object","properties":{"chat":{"type":"string","description":"id"},
    "limit":{"type":"integer","minimum":1}},"required":["chat"]})");
  auto s = SanitizeToolSchema(schema);
  EXPECT_EQ(s.schema, schema);
  EXPECT_TRUE(s.notes.empty());
}

TEST(SchemaSanitizerTest, UnsupportedKeywordsDropped) {
  auto s = SanitizeToolSchema(
      Json::parse(R"({"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
    "properties":{"a":{"type":"string","if":{},"then":{},"examples":["x"]}},"patternProperties":{"^x":{}}})"));
  EXPECT_FALSE(s.schema.contains("$schema"));
  EXPECT_FALSE(s.schema.contains("patternProperties"));
  EXPECT_EQ(s.schema["properties"]["a"], Json({{"type", "string"}}));
  EXPECT_TRUE(HasNote(s, "properties.a.if: unsupported keyword removed"));
}

TEST(SchemaSanitizerTest, UnanchoredPatternAndUnknownFormatMoveToDescription) {
  auto s = SanitizeToolSchema(Json::parse(R"({"type":"object","properties":{
    "q":{"type":"string","pattern":"[a-z]+","description":"query"},
    "ok":{"type":"string","pattern":"^[0-9]{3}$"},
    "when":{"type":"string","format":"date-time"},
    "mail":{"type":"string","format":"email"}}})"));
  const Json& p = s.schema["properties"];
  EXPECT_FALSE(p["q"].contains("pattern"));
  EXPECT_EQ(p["q"]["description"], "query Must match the pattern [a-z]+.");
  EXPECT_EQ(p["ok"]["pattern"], "^[0-9]{3}$");
  EXPECT_EQ(p["when"]["format"], "date-time");
  EXPECT_FALSE(p["mail"].contains("format"));
  EXPECT_TRUE(HasNote(s, "properties.q.pattern: unanchored pattern"));
}

TEST(SchemaSanitizerTest, RefsInlinedAndRecursionCut) {
  auto s = SanitizeToolSchema(Json::parse(R"({"type":"object","$defs":{
      "Node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}}},
      "Color":{"type":"string","enum":["red","green"]}},
    "properties":{"tree":{"$ref":"#/$defs/Node"},"color":{"$ref":"#/$defs/Color","description":"pick one"},
                  "far":{"$ref":"https://example.com/schema.json"}}})"));
  const Json& p = s.schema["properties"];
  EXPECT_FALSE(s.schema.contains("$defs"));
  EXPECT_EQ(p["color"]["enum"], Json({"red", "green"}));
  EXPECT_EQ(p["color"]["description"], "pick one");
  EXPECT_EQ(p["tree"]["properties"]["name"]["type"], "string");
  EXPECT_EQ(p["tree"]["properties"]["children"]["items"], Json({{"type", "object"}}));
  EXPECT_EQ(p["far"], Json::object());
  EXPECT_TRUE(HasNote(s, "recursive $ref '#/$defs/Node' cut"));
  EXPECT_EQ(s.schema.dump().find("$ref"), std::string::npos);
}

TEST(SchemaSanitizerTest, HugeEnumOneOfNullableAllOf) {
  Json big = Json::array();
  for (int i = 0; i < 500; ++i) big.push_back("item" + std::to_string(i));
  Json schema{
      {"type", "object"},
      {"properties",
       {{"name", {{"enum", big}}},
        {"v", {{"oneOf", Json::array({Json{{"type", "integer"}}, Json{{"type", "string"}}})}}},
        {"n", {{"type", "string"}, {"nullable", true}}}}},
      {"allOf", Json::array({Json{{"properties", {{"extra", {{"type", "boolean"}}}}},
                                  {"required", {"extra"}}}})}};
  auto s = SanitizeToolSchema(schema);
  const Json& p = s.schema["properties"];
  EXPECT_FALSE(p["name"].contains("enum"));
  EXPECT_EQ(p["name"]["type"], "string");
  EXPECT_NE(p["name"]["description"].get<std::string>().find("500 values"), std::string::npos);
  EXPECT_TRUE(p["v"].contains("anyOf"));
  EXPECT_FALSE(p["v"].contains("oneOf"));
  EXPECT_EQ(p["n"]["type"], Json({"string", "null"}));
  EXPECT_EQ(p["extra"]["type"], "boolean");
  EXPECT_EQ(s.schema["required"], Json({"extra"}));
}

TEST(SchemaSanitizerTest, BadRootsBecomeObjectSchemas) {
  EXPECT_EQ(SanitizeToolSchema(Json()).schema,
            Json({{"type", "object"}, {"properties", Json::object()}}));
  EXPECT_EQ(SanitizeToolSchema(Json("x")).schema["type"], "object");
  EXPECT_EQ(SanitizeToolSchema(Json({{"type", "string"}})).schema["type"], "object");
  EXPECT_EQ(SanitizeToolSchema(Json({{"properties", {{"a", {{"type", "wat"}}}}}}))
                .schema["properties"]["a"],
            Json::object());
}

TEST(SchemaSanitizerTest, DeepNestingIsCut) {
  Json deep = {{"type", "string"}};
  for (int i = 0; i < 40; ++i) deep = Json{{"type", "object"}, {"properties", {{"x", deep}}}};
  auto s = SanitizeToolSchema(deep);
  EXPECT_TRUE(HasNote(s, "nested deeper than"));
  EXPECT_LT(s.schema.dump().size(), deep.dump().size());
}

TEST(SchemaSanitizerTest, LongChainsOfRefsAreCutNotFollowed) {
  // 100,000 distinct $defs, each a $ref to the next: each link expands at the same depth,
  // so only a bound on the chain keeps this from recursing 100,000 times.
  Json defs = Json::object();
  const int links = 100000;
  for (int i = 0; i < links; ++i) {
    defs["d" + std::to_string(i)] = {{"$ref", "#/$defs/d" + std::to_string(i + 1)}};
  }
  defs["d" + std::to_string(links)] = {{"type", "string"}};
  Json schema = {{"type", "object"},
                 {"properties", {{"x", {{"$ref", "#/$defs/d0"}}}}},
                 {"$defs", std::move(defs)}};
  auto s = SanitizeToolSchema(schema);
  EXPECT_TRUE(HasNote(s, "chain of more than 12 $refs cut")) << s.notes.size();
  EXPECT_EQ(s.schema["properties"]["x"], Json::object());
  // A short chain still resolves.
  Json short_chain = Json::parse(R"({"type":"object","properties":{"x":{"$ref":"#/$defs/a"}},
    "$defs":{"a":{"$ref":"#/$defs/b"},"b":{"type":"integer"}}})");
  EXPECT_EQ(SanitizeToolSchema(short_chain).schema["properties"]["x"], Json({{"type", "integer"}}));
}

TEST(SchemaSanitizerTest, MaxDepthNeverPassesTheJsonLimit) {
  Json schema = Json::object();
  Json* at = &schema;
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) {
    (*at)["type"] = "array";
    at = &(*at)["items"];
  }
  auto s = SanitizeToolSchema(Json{{"type", "object"}, {"properties", {{"a", schema}}}},
                              SanitizeOptions{.max_depth = 1000000});
  EXPECT_TRUE(HasNote(s, "nested deeper than 256 levels"));
  EXPECT_LE(JsonDepth(s.schema), 2 * kMaxJsonDepth + 4);
}

}  // namespace
}  // namespace naut::llm
