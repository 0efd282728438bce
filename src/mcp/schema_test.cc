#include "mcp/schema.h"

#include <gtest/gtest.h>

namespace naut::mcp {
namespace {

const Json kSchema = Json::parse(R"({
  "type": "object",
  "properties": {
    "path": {"type": "string", "minLength": 1},
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    "mode": {"enum": ["read", "write"]},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    "opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}, "additionalProperties": false}
  },
  "required": ["path"],
  "additionalProperties": false
})");

std::string Error(const Json& v) {
  Status s = ValidateJson(v, kSchema);
  return s.ok() ? "" : s.message();
}

TEST(SchemaTest, AcceptsValidArguments) {
  EXPECT_EQ(Error(Json{{"path", "a"},
                       {"count", 3},
                       {"mode", "read"},
                       {"tags", {"x"}},
                       {"opts", {{"deep", true}}}}),
            "");
  EXPECT_EQ(Error(Json{{"path", "a"}, {"count", 3.0}}), "");  // 3.0 is an integer
}

TEST(SchemaTest, NamesTheWrongField) {
  EXPECT_EQ(Error(Json::object()), "arguments.path: required field is missing");
  EXPECT_EQ(Error(Json{{"path", 5}}), "arguments.path: expected string, got integer");
  EXPECT_NE(Error(Json{{"path", "a"}, {"count", 11}}).find("arguments.count"), std::string::npos);
  EXPECT_NE(Error(Json{{"path", "a"}, {"count", 1.5}}).find("expected integer"), std::string::npos);
  EXPECT_NE(Error(Json{{"path", "a"}, {"mode", "x"}}).find("arguments.mode"), std::string::npos);
  EXPECT_NE(Error(Json{{"path", "a"}, {"tags", {"x", 1}}}).find("arguments.tags[1]"),
            std::string::npos);
  EXPECT_NE(Error(Json{{"path", "a"}, {"tags", {"x", "y", "z"}}}).find("at most"),
            std::string::npos);
  EXPECT_NE(Error(Json{{"path", "a"}, {"bogus", 1}}).find("arguments.bogus: unknown field"),
            std::string::npos);
  EXPECT_NE(Error(Json{{"path", "a"}, {"opts", {{"x", 1}}}}).find("arguments.opts.x"),
            std::string::npos);
  EXPECT_NE(Error(Json{{"path", ""}}).find("shorter"), std::string::npos);
  EXPECT_NE(Error(Json::array()).find("expected object, got array"), std::string::npos);
}

TEST(SchemaTest, IgnoresKeywordsOutsideTheSubset) {
  Json schema = Json::parse(
      R"({"type":"object","$defs":{"a":{}},"properties":{"x":{"$ref":"#/$defs/a","format":"uri"}}})");
  EXPECT_TRUE(ValidateJson(Json{{"x", "anything"}}, schema).ok());
}

TEST(SchemaTest, DeepValuesAndSchemasFailInsteadOfRecursingOn) {
  // A schema that accepts arrays of arrays to any depth, and a value deeper than the limit
  // (built here, as no parse of outside text would produce one).
  Json schema = Json::parse(R"({"type": "array"})");
  Json value = Json::array();
  Json* at = &value;
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) at = &at->emplace_back(Json::array());
  Json nested_schema = Json::object();
  Json* s = &nested_schema;
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) {
    (*s)["type"] = "array";
    s = &(*s)["items"];
  }
  Status st = ValidateJson(value, nested_schema);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nested deeper than 256 levels"), std::string::npos) << st.message();
  EXPECT_TRUE(ValidateJson(value, schema).ok());  // a shallow schema looks at one level only
}

}  // namespace
}  // namespace naut::mcp
