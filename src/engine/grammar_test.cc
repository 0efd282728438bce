#include "engine/grammar.h"

#include <gtest/gtest.h>

#include "core/json_schema.h"
#include "engine/grammar_matcher.h"
#include "engine/json_grammar.h"

namespace naut::engine {
namespace {

// Whether `grammar` matches all of `text` (and can end there).
bool Matches(const Grammar& g, std::string_view text) {
  GrammarMatcher m(g);
  return m.Accept(text) && m.CanEnd();
}

Grammar MustParse(std::string_view text) {
  auto g = Grammar::Parse(text);
  EXPECT_TRUE(g.ok()) << g.error().ToString() << "\n" << text;
  return g.ok() ? std::move(*g) : *Grammar::Parse("root ::= \"\"");
}

TEST(GrammarTest, LiteralsAlternationAndGroups) {
  Grammar g = MustParse(R"(root ::= "ab" ("c" | "d") rest  # comment
rest ::= "!"
  | "?")");
  EXPECT_TRUE(Matches(g, "abc!"));
  EXPECT_TRUE(Matches(g, "abd?"));
  EXPECT_FALSE(Matches(g, "abe!"));
  EXPECT_FALSE(Matches(g, "abc"));
  GrammarMatcher m(g);
  EXPECT_TRUE(m.Accept("ab"));
  EXPECT_FALSE(m.Accept("x"));  // refused bytes change nothing
  EXPECT_TRUE(m.Accept("c?"));
  EXPECT_TRUE(m.MustEnd());
}

TEST(GrammarTest, Repetitions) {
  Grammar g = MustParse(R"(root ::= "a"* "b"+ "c"? [0-9]{2} "x"{1,3} "y"{2,} "z"{,2})");
  EXPECT_TRUE(Matches(g, "b12xyy"));
  EXPECT_TRUE(Matches(g, "aaabbc12xxxyyyyzz"));
  EXPECT_FALSE(Matches(g, "12xyy"));      // b+ needs one
  EXPECT_FALSE(Matches(g, "b1xyy"));      // two digits
  EXPECT_FALSE(Matches(g, "b12xxxxyy"));  // at most 3 x
  EXPECT_FALSE(Matches(g, "b12xy"));      // at least 2 y
  EXPECT_FALSE(Matches(g, "b12xyyzzz"));  // at most 2 z
  Grammar word = MustParse(R"(root ::= ("ab" "c"){2})");
  EXPECT_TRUE(Matches(word, "abcabc"));
  EXPECT_FALSE(Matches(word, "abcab"));
}

TEST(GrammarTest, ClassesRangesNegationAndUtf8) {
  Grammar g = MustParse(R"(root ::= [a-c0-9_] [^a-z] [α-ω] . "\u00e9\x41\n\"")");
  EXPECT_TRUE(Matches(g,
                      "b"
                      "Z"
                      "β"
                      "€"
                      "é"
                      "A\n\""));
  EXPECT_FALSE(Matches(g,
                       "d"
                       "Z"
                       "β"
                       "€"
                       "éA\n\""));
  EXPECT_FALSE(Matches(g,
                       "b"
                       "z"
                       "β"
                       "€"
                       "éA\n\""));
  EXPECT_FALSE(Matches(g,
                       "b"
                       "Z"
                       "a"
                       "€"
                       "éA\n\""));
  // A character split over two pieces, as tokens split it.
  GrammarMatcher m(g);
  EXPECT_TRUE(m.Accept("bZ\xCE"));
  EXPECT_TRUE(m.Accept("\xB2"));
  // Negated classes take only valid UTF-8: no lone continuation byte, no surrogate.
  Grammar any = MustParse(R"(root ::= [^"]+)");
  EXPECT_TRUE(Matches(any, "h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(Matches(any, "\x80"));
  EXPECT_FALSE(Matches(any, "\xED\xA0\x80"));
  EXPECT_FALSE(Matches(any, "a\"b"));
}

TEST(GrammarTest, RecursionAndRulesAcrossLines) {
  Grammar g = MustParse(R"g(
root ::= expr
expr ::= term ([-+] term)*
term ::= [0-9]+ | "(" expr ")"
)g");
  EXPECT_TRUE(Matches(g, "1+(2-(3+4))"));
  EXPECT_FALSE(Matches(g, "1+(2"));
  EXPECT_FALSE(Matches(g, "1++2"));
}

TEST(GrammarTest, ErrorsNameLineAndColumn) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
      {"root ::= \"a\"\nx ::= [a-", "line 2, column 7: unterminated character class"},
      {"root ::= \"abc", "line 1, column 10: unterminated literal"},
      {"root ::= (\"a\"", "line 1, column 10: '(' is never closed"},
      {"root ::= \"a\" )", "unmatched ')'"},
      {"root ::= \"\\q\"", "unknown escape '\\q'"},
      {"root ::= \"a\"{3,1}", "repetition maximum below its minimum"},
      {"root ::= [z-a]", "runs backwards"},
      {"x ::= \"a\"", "no rule named 'root'"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' defined twice"},
      {"root ::= <[123]>", "token references"},
      {"root ::= \"\"*", "repetition of an empty expression"},
  };
  for (const Case& c : cases) {
    auto g = Grammar::Parse(c.text);
    ASSERT_FALSE(g.ok()) << c.text;
    EXPECT_NE(g.error().message().find(c.expect), std::string::npos)
        << c.text << " -> " << g.error().message();
  }
}

TEST(GrammarTest, HostileGrammarsAreRefused) {
  // Left recursion, direct, indirect and through a rule that can match nothing.
  for (const char* text :
       {"root ::= root \"a\" | \"b\"", "root ::= a\na ::= b \"x\"\nb ::= a | \"y\"",
        "root ::= e? root \"x\" | \"y\"\ne ::= \"z\"", "root ::= (\"a\"?)*"}) {
    auto g = Grammar::Parse(text);
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_NE(g.error().message().find("left recursion"), std::string::npos) << g.error().message();
  }
  // Huge repetition counts, nested repetitions, deep nesting, a huge text.
  EXPECT_EQ(Grammar::Parse("root ::= \"a\"{99999999999}").error().code(), Code::kResourceExhausted);
  std::string wide = "root ::=";
  for (int i = 0; i < 20; ++i) wide += " \"a\"{0,9000}";
  EXPECT_EQ(Grammar::Parse(wide).error().code(), Code::kResourceExhausted);
  std::string deep = "root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')');
  auto d = Grammar::Parse(deep);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("nest deeper"), std::string::npos);
  EXPECT_EQ(Grammar::Parse("root ::= \"" + std::string(2 << 20, 'a') + "\"").error().code(),
            Code::kResourceExhausted);
  // Nested repetitions share their rules: the size stays linear.
  EXPECT_TRUE(Grammar::Parse("root ::= ((\"a\"{9000}){9000}){9000}").ok());
}

TEST(GrammarTest, AmbiguousGrammarStopsTheMatcherWithAnError) {
  // After n a's, 2^n stacks remember which closing letter each a expects.
  Grammar g = MustParse("root ::= s\ns ::= \"a\" s \"b\" | \"a\" s \"c\" | \"d\"");
  MatcherLimits lim;
  lim.max_stacks = 200;
  GrammarMatcher m(g, lim);
  bool refused = false;
  for (int i = 0; i < 50 && !refused; ++i) refused = !m.Accept("a");
  EXPECT_TRUE(refused);
  EXPECT_EQ(m.error().code(), Code::kResourceExhausted);
  EXPECT_NE(m.error().message().find("too ambiguous"), std::string::npos);
}

TEST(GrammarTest, DeepNestingDropsParsesBeyondTheStackLimit) {
  Grammar g = MustParse("root ::= \"(\" root \")\" | \"x\"");
  MatcherLimits lim;
  lim.max_stack_depth = 20;
  GrammarMatcher m(g, lim);
  int accepted = 0;
  while (accepted < 100 && m.Accept("(")) ++accepted;
  EXPECT_LT(accepted, 25);
  EXPECT_TRUE(m.error().ok());
}

TEST(IntegerRangeTest, MatchesExactlyTheRange) {
  const std::pair<int64_t, int64_t> ranges[] = {{0, 9},     {1, 100},   {-5, 3},
                                                {-120, -7}, {37, 4211}, {0, 9999999999999999}};
  for (auto [lo, hi] : ranges) {
    Grammar g = MustParse("root ::= " + IntegerRangeGrammar(lo, hi));
    for (int64_t v = -300; v <= 5000; ++v) {
      EXPECT_EQ(Matches(g, std::to_string(v)), v >= lo && v <= hi) << lo << ".." << hi << ": " << v;
    }
    EXPECT_FALSE(Matches(g, "007"));
  }
}

TEST(JsonGrammarTest, SchemaGrammarsAcceptValidAndRefuseInvalidJson) {
  const Json schema = Json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 5},
      "count": {"type": "integer", "minimum": 1, "maximum": 10},
      "mode": {"enum": ["fast", "slow"]},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
      "ratio": {"type": ["number", "null"]},
      "deep": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
      "either": {"anyOf": [{"type": "integer"}, {"const": "none"}]}
    },
    "required": ["name", "count"],
    "additionalProperties": false
  })");
  auto text = JsonSchemaToGrammar(schema);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  Grammar g = MustParse(*text);
  for (const char* ok : {R"({"count": 3, "name": "ab"})",
                         R"({ "count":10,"deep":{"ok":true},"either":"none","mode":"slow",
            "name":"x","ratio":null,"tags":["a","b"]})",
                         R"({"count": 1, "either": -4, "name": "\u00e9\n", "ratio": -1.5e3})"}) {
    EXPECT_TRUE(Matches(g, ok)) << ok;
    EXPECT_TRUE(ValidateJson(Json::parse(ok), schema).ok()) << ok;
  }
  for (const char* bad :
       {R"({"name": "ab"})", R"({"count": 0, "name": "ab"})", R"({"count": 3, "name": ""})",
        R"({"count": 3, "name": "abcdef"})", R"({"count": 3, "name": "a", "x": 1})",
        R"({"count": 3, "mode": "x", "name": "a"})",
        R"({"count": 3, "name": "a", "tags": ["a", "b", "c"]})",
        R"({"count": 3, "deep": {}, "name": "a"})", R"({"count": 3, "name": "a",})"}) {
    EXPECT_FALSE(Matches(g, bad)) << bad;
  }
}

TEST(JsonGrammarTest, RefsAndOpenObjects) {
  const Json schema = Json::parse(R"({
    "$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
    "type": "object",
    "properties": {"tree": {"$ref": "#/$defs/node"}, "meta": {"type": "object"}}
  })");
  auto text = JsonSchemaToGrammar(schema);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  Grammar g = MustParse(*text);
  EXPECT_TRUE(
      Matches(g, R"({"meta": {"a": [1, {"b": null}]}, "tree": {"kids": [{"kids": []}, {}]}})"));
  EXPECT_TRUE(Matches(g, "{}"));
  EXPECT_FALSE(Matches(g, R"({"tree": {"kids": [1]}})"));
  Grammar any = MustParse(JsonObjectGrammar());
  EXPECT_TRUE(Matches(any, R"({"a": [true, false, null, -0.5e10, "x\"y"], "b": {}})"));
  EXPECT_FALSE(Matches(any, R"([1])"));
  EXPECT_FALSE(Matches(any, R"({"a": 01})"));
  // Escapes: any but a surrogate's (a lone one is no character; parsers refuse it).
  EXPECT_TRUE(Matches(any, R"({"a": "\u00e9\uFFFD\uc000\n"})"));
  EXPECT_FALSE(Matches(any, R"({"a": "\ud83d\ude00"})"));
  EXPECT_FALSE(Matches(any, R"({"a": "\q"})"));
}

TEST(JsonGrammarTest, HostileSchemasAreRefusedNotFollowed) {
  Json deep = Json{{"type", "string"}};
  for (int i = 0; i < 100; ++i) deep = Json{{"type", "array"}, {"items", deep}};
  auto d = JsonSchemaToGrammar(deep);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("nested too deeply"), std::string::npos);
  // A recursive $ref is a recursive rule, not an endless expansion.
  auto rec = JsonSchemaToGrammar(Json::parse(
      R"({"$defs": {"a": {"type": "array", "items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"})"));
  ASSERT_TRUE(rec.ok()) << rec.error().ToString();
  EXPECT_TRUE(Matches(MustParse(*rec), "[[], [[[]]]]"));
  // Sizes past the grammar's bounds are refused by name.
  auto big = JsonSchemaToGrammar(Json{{"type", "string"}, {"maxLength", 100000}});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("maxLength"), std::string::npos);
}

TEST(JsonGrammarTest, WhatCannotBeExpressedIsRefusedByName) {
  struct Case {
    const char* schema;
    const char* expect;
  };
  const Case cases[] = {
      {R"({"type": "string", "pattern": "^a+$"})", "'pattern' cannot be expressed"},
      {R"({"type": "object", "properties": {"d": {"type": "string", "format": "date"}}})",
       "at /properties/d: 'format' cannot be expressed"},
      {R"({"type": "number", "maximum": 3})", "maximum on a number"},
      {R"({"allOf": [{"type": "string"}, {"minLength": 2}]})", "allOf with several schemas"},
      {R"({"$ref": "https://example.com/s.json"})", "not a local reference"},
      {R"({"$ref": "#/$defs/missing"})", "names no definition"},
      {R"({"type": "wat"})", "unknown type 'wat'"},
      {R"(false)", "admits no value"},
  };
  for (const Case& c : cases) {
    auto g = JsonSchemaToGrammar(Json::parse(c.schema));
    ASSERT_FALSE(g.ok()) << c.schema;
    EXPECT_NE(g.error().message().find(c.expect), std::string::npos)
        << c.schema << " -> " << g.error().message();
  }
}

}  // namespace
}  // namespace naut::engine
