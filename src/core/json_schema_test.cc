#include "core/json_schema.h"

#include <gtest/gtest.h>

namespace naut {
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

TEST(JsonSchemaPeerTest, AcceptsValidArguments) {
  EXPECT_EQ(Error(Json{{"path", "a"},
                       {"count", 3},
                       {"mode", "read"},
                       {"tags", {"x"}},
                       {"opts", {{"deep", true}}}}),
            "");
  EXPECT_EQ(Error(Json{{"path", "a"}, {"count", 3.0}}), "");  // 3.0 is an integer
}

TEST(JsonSchemaPeerTest, NamesTheWrongField) {
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

TEST(JsonSchemaPeerTest, IgnoresKeywordsOutsideTheSubset) {
  Json schema = Json::parse(
      R"({"type":"object","$defs":{"a":{}},"properties":{"x":{"$ref":"#/$defs/a","format":"uri"}}})");
  EXPECT_TRUE(ValidateJson(Json{{"x", "anything"}}, schema).ok());
}

TEST(JsonSchemaPeerTest, DeepValuesAndSchemasFailInsteadOfRecursingOn) {
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

// What a model wrote: every problem at once, worded for the model, after repairs.
std::vector<std::string> ModelProblems(const Json& schema, Json& args,
                                       std::vector<std::string>* repairs = nullptr) {
  JsonSchemaReport r = CheckJsonSchema(args, schema, "arguments", JsonSchemaOptions::ForModel());
  if (repairs) *repairs = r.repairs;
  return r.problems;
}

TEST(JsonSchemaModelTest, NestedObjectsArraysAndAnyOf) {
  Json schema = Json::parse(R"({"type":"object","properties":{
    "items":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},
    "mode":{"anyOf":[{"type":"integer"},{"type":"string","enum":["fast","slow"]}]}},"required":["items"]})");
  Json ok = Json::parse(R"({"items":[{"id":"3"}],"mode":"fast"})");
  std::vector<std::string> repairs;
  EXPECT_TRUE(ModelProblems(schema, ok, &repairs).empty());
  EXPECT_EQ(ok["items"][0]["id"], 3);
  EXPECT_FALSE(repairs.empty());
  Json bad = Json::parse(R"({"items":[{}],"mode":"medium"})");
  auto problems = ModelProblems(schema, bad);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("argument 'items'[0].id is required"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("argument 'mode' matches none"), std::string::npos) << problems[1];
}

TEST(JsonSchemaModelTest, EveryProblemIsASentenceNamingTheArgument) {
  Json args = {{"path", ""}, {"count", 11}, {"mode", "x"}, {"tags", {"a", "b", "c"}}, {"bogus", 1}};
  auto problems = ModelProblems(kSchema, args);
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_EQ(problems[0],
            "argument 'bogus' is not accepted (expected: count, mode, opts, path, tags)");
  EXPECT_EQ(problems[1], "argument 'count' must be at most 10, got 11");
  EXPECT_EQ(problems[2], "argument 'mode' must be one of \"read\", \"write\", got \"x\"");
  EXPECT_EQ(problems[3], "argument 'path' must be at least 1 characters long");
  EXPECT_EQ(problems[4], "argument 'tags' takes at most 2 items");
  Json missing = Json::object();
  EXPECT_EQ(ModelProblems(kSchema, missing),
            std::vector<std::string>{"argument 'path' is required but missing"});
  Json wrong = {{"path", "a"}, {"opts", {{"deep", "maybe"}}}};
  EXPECT_EQ(
      ModelProblems(kSchema, wrong),
      std::vector<std::string>{"argument 'opts'.deep must be a boolean, got string \"maybe\""});
}

TEST(JsonSchemaModelTest, RepairsWhatIsUnambiguous) {
  Json args = {{"path", 7},
               {"count", "3"},
               {"mode", "READ"},
               {"tags", "solo"},
               {"opts", "{\"deep\": true}"}};
  std::vector<std::string> repairs;
  EXPECT_TRUE(ModelProblems(kSchema, args, &repairs).empty());
  EXPECT_EQ(args, (Json{{"path", "7"},
                        {"count", 3},
                        {"mode", "read"},
                        {"tags", {"solo"}},
                        {"opts", {{"deep", true}}}}));
  EXPECT_EQ(repairs.size(), 5u);
  // 3.0 becomes 3; a null for an optional argument is dropped; a required one is not.
  Json floats = {{"path", "a"}, {"count", 3.0}, {"mode", nullptr}};
  EXPECT_TRUE(ModelProblems(kSchema, floats, &repairs).empty());
  EXPECT_TRUE(floats["count"].is_number_integer());
  EXPECT_FALSE(floats.contains("mode"));
  EXPECT_EQ(repairs, std::vector<std::string>{"argument 'mode': null dropped"});
  Json null_path = {{"path", nullptr}};
  EXPECT_EQ(ModelProblems(kSchema, null_path),
            std::vector<std::string>{"argument 'path' must be a string, got null null"});
}

TEST(JsonSchemaModelTest, RepairsNeverTouchAConstValueOrAPeersArguments) {
  const Json args = {{"path", "a"}, {"count", "3"}};
  JsonSchemaReport r = CheckJsonSchema(args, kSchema, "arguments", JsonSchemaOptions::ForModel());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(args["count"], "3");
  Json peer = {{"path", "a"}, {"count", "3"}};
  EXPECT_EQ(ValidateJson(peer, kSchema).message(), "arguments.count: expected integer, got string");
  EXPECT_EQ(peer["count"], "3");
}

TEST(JsonSchemaModelTest, RepairsReadEmbeddedJsonWithTheCallersReader) {
  JsonSchemaOptions options = JsonSchemaOptions::ForModel();
  options.read_json_text = [](std::string_view) -> Result<Json> { return Json{{"deep", false}}; };
  Json args = {{"path", "a"}, {"opts", "{deep: false,}"}};
  EXPECT_TRUE(CheckJsonSchema(args, kSchema, "arguments", options).ok());
  EXPECT_EQ(args["opts"], (Json{{"deep", false}}));
  Json strict = {{"path", "a"}, {"opts", "{deep: false,}"}};
  EXPECT_FALSE(CheckJsonSchema(strict, kSchema, "arguments", JsonSchemaOptions::ForModel()).ok());
}

TEST(JsonSchemaTest, StringLengthsCountCharactersNotBytes) {
  Json schema = Json::parse(R"({"type":"string","maxLength":3})");
  EXPECT_TRUE(ValidateJson("\xC3\xA9t\xC3\xA9", schema).ok());  // "été": 3 characters, 5 bytes
  EXPECT_FALSE(ValidateJson("abcd", schema).ok());
}

TEST(JsonSchemaTest, OneOfWantsExactlyOneAndFalseAllowsNothing) {
  Json schema = Json::parse(R"({"oneOf":[{"type":"integer"},{"type":"number"}]})");
  EXPECT_EQ(ValidateJson(1.5, schema).message(), "");
  EXPECT_EQ(ValidateJson(2, schema).message(),
            "arguments: matches more than one of the allowed shapes");
  EXPECT_EQ(ValidateJson(Json{{"x", 1}}, Json::parse(R"({"properties":{"x":false}})")).message(),
            "arguments.x: no value is allowed here");
  Json exclusive = Json::parse(R"({"exclusiveMinimum":0,"exclusiveMaximum":1})");
  EXPECT_EQ(ValidateJson(0, exclusive).message(), "arguments: 0 must be greater than 0");
  Json one = 1;
  EXPECT_EQ(CheckJsonSchema(one, exclusive, "x", JsonSchemaOptions::ForModel()).problems,
            std::vector<std::string>{"x must be less than 1, got 1"});
}

TEST(JsonSchemaModelTest, DeepSchemasAreAProblemNotARecursion) {
  Json value = Json::array();
  Json* at = &value;
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) at = &at->emplace_back(Json::array());
  Json schema = Json::object();
  Json* s = &schema;
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) {
    (*s)["type"] = "array";
    s = &(*s)["items"];
  }
  auto problems = ModelProblems(schema, value);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("nests deeper than 256 levels"), std::string::npos) << problems[0];
}

}  // namespace
}  // namespace naut
