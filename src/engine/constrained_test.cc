// Constrained decoding end to end on random-weight models: whatever the weights say, every
// output the grammar completes parses and satisfies its schema.

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/json_schema.h"
#include "engine/generate.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/json_grammar.h"
#include "engine/synthetic_model.h"

namespace naut::engine {
namespace {

std::unique_ptr<Model> Build(const SyntheticModelSpec& spec, const std::string& name) {
  std::string path = testing::TempDir() + "/" + name + "-" + std::to_string(::getpid()) + ".gguf";
  EXPECT_TRUE(BuildSyntheticModel(spec).WriteTo(path).ok());
  auto m = Model::Load(path);
  EXPECT_TRUE(m.ok()) << m.error().ToString();
  return m.ok() ? std::move(*m) : nullptr;
}

Grammar MustParse(const std::string& text) {
  auto g = Grammar::Parse(text);
  EXPECT_TRUE(g.ok()) << g.error().ToString() << "\n" << text;
  return g.ok() ? std::move(*g) : *Grammar::Parse("root ::= \"\"");
}

// Samples the whole allowed set (no truncation), so that every path of the grammar is taken.
GenerateOptions Wide(uint64_t seed, int max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed};
  return o;
}

// A bounded schema: every path through its grammar ends, so every generation completes.
const char* kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 6},
    "count": {"type": "integer", "minimum": -3, "maximum": 250},
    "mode": {"enum": ["fast", "slow", 3, null]},
    "ok": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 1, "maxItems": 3},
    "pos": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 9},
                                             "y": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "null"}]}},
            "required": ["x"], "additionalProperties": false}
  },
  "required": ["name", "count", "pos"],
  "additionalProperties": false
})";

TEST(ConstrainedGenerationTest, EverySampledOutputSatisfiesTheSchema) {
  auto m = Build({.n_vocab = 512, .seed = 5}, "schema");
  ASSERT_TRUE(m);
  const Json schema = Json::parse(kSchema);
  auto text = JsonSchemaToGrammar(schema);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  Grammar g = MustParse(*text);
  auto vocab = TokenVocabulary::Build(m->tokenizer());
  auto ctx = Context::Create(*m, {.n_ctx = 1024});
  ASSERT_TRUE(ctx.ok());
  int runs = 0;
  for (uint64_t seed = 0; seed < 200; ++seed, ++runs) {
    GenerateOptions o = Wide(seed, 900);
    if (seed % 10 == 0) o.sampling.temperature = 0;  // greedy takes the fallback path each time
    o.grammar = &g;
    o.vocabulary = vocab.get();
    auto r = Generate(**ctx, {1, static_cast<TokenId>(300 + seed % 100)}, o);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_EQ(r->stop_reason, "eog") << r->text;
    EXPECT_TRUE(r->grammar_complete);
    auto j = ParseJson(r->text, "output");
    ASSERT_TRUE(j.ok()) << r->text;
    Status st = ValidateJson(*j, schema, "output");
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << r->text;
  }
  EXPECT_EQ(runs, 200);
}

TEST(ConstrainedGenerationTest, JsonObjectOutputsParseOrAreValidPrefixes) {
  auto m = Build({.n_vocab = 512, .seed = 6}, "object");
  ASSERT_TRUE(m);
  Grammar g = MustParse(JsonObjectGrammar());
  auto ctx = Context::Create(*m, {.n_ctx = 512});
  ASSERT_TRUE(ctx.ok());
  int complete = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    GenerateOptions o = Wide(seed, 200);
    o.grammar = &g;
    auto r = Generate(**ctx, {1, 400}, o);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    // An open grammar can run past max_tokens; what was written is still a start of an object.
    GrammarMatcher check(g);
    EXPECT_TRUE(check.Accept(r->text)) << r->text;
    if (r->stop_reason == "eog") {
      ++complete;
      auto j = ParseJson(r->text, "output");
      ASSERT_TRUE(j.ok()) << j.error().ToString() << "\n" << Json(r->text).dump();
      EXPECT_TRUE(j->is_object());
    }
  }
  EXPECT_GT(complete, 0);
}

TEST(ConstrainedGenerationTest, CharactersSplitOverByteTokens) {
  // The synthetic vocabulary has no piece for these characters: each takes several byte tokens.
  auto m = Build({.n_vocab = 300, .seed = 7}, "utf8");
  ASSERT_TRUE(m);
  Grammar g = MustParse("root ::= \"é€\" [α-ω]{2} \"😀\"");
  auto ctx = Context::Create(*m, {.n_ctx = 128});
  for (uint64_t seed = 0; seed < 10; ++seed) {
    GenerateOptions o = Wide(seed, 40);
    o.grammar = &g;
    auto r = Generate(**ctx, {1, 100}, o);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->stop_reason, "eog");
    EXPECT_EQ(r->text.substr(0, 5), "é€");
    EXPECT_EQ(r->text.size(), 5u + 4u + 4u);
    EXPECT_EQ(ValidUtf8(r->text), r->text);
  }
}

TEST(ConstrainedGenerationTest, StopStringsEndFreeTextButNotWhatTheGrammarGoverns) {
  auto m = Build({.n_vocab = 300, .seed = 12}, "stops");
  ASSERT_TRUE(m);
  Grammar g = MustParse("root ::= \"xy\" [a-c]{3} \"zz\"");
  auto ctx = Context::Create(*m, {.n_ctx = 128});
  for (uint64_t seed = 0; seed < 5; ++seed) {
    GenerateOptions o = Wide(seed, 20);
    o.grammar = &g;
    o.stop = {"y", "zz"};
    auto r = Generate(**ctx, {1, 100}, o);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->stop_reason, "eog");
    EXPECT_EQ(r->text.size(), 7u) << r->text;
    EXPECT_EQ(r->text.substr(5), "zz");
  }
}

// A lazy grammar: free text until "q", then a call of one of two tools.
TEST(ConstrainedGenerationTest, LazyGrammarForcesAValidCallAfterTheTrigger) {
  auto m = Build({.n_vocab = 512, .seed = 8}, "lazy");
  ASSERT_TRUE(m);
  const Json move = Json::parse(R"({"type": "object", "properties": {
      "dir": {"enum": ["n", "s", "e", "w"]}, "steps": {"type": "integer", "minimum": 1, "maximum": 5}},
      "required": ["dir"]})");
  const Json say = Json::parse(R"({"type": "object", "properties": {
      "text": {"type": "string", "maxLength": 5}}, "required": ["text"]})");
  JsonGrammarBuilder b;
  auto move_rule = b.AddSchema(move, "move-args");
  auto say_rule = b.AddSchema(say, "say-args");
  ASSERT_TRUE(move_rule.ok() && say_rule.ok());
  b.AddRule("root",
            "\"q\" ws \"{\" ws \"\\\"name\\\"\" ws \":\" ws (\"\\\"move\\\"\" ws \",\" ws "
            "\"\\\"arguments\\\"\" ws \":\" ws " +
                *move_rule + " | \"\\\"say\\\"\" ws \",\" ws \"\\\"arguments\\\"\" ws \":\" ws " +
                *say_rule + ") ws \"}\"");
  Grammar g = MustParse(b.Text());
  auto vocab = TokenVocabulary::Build(m->tokenizer());
  auto ctx = Context::Create(*m, {.n_ctx = 1024});
  int triggered = 0, free_runs = 0;
  for (uint64_t seed = 0; seed < 150; ++seed) {
    GenerateOptions o = Wide(seed, 400);
    o.grammar = &g;
    o.grammar_triggers = {"q"};
    o.vocabulary = vocab.get();
    auto r = Generate(**ctx, {1, 350}, o);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    const size_t at = r->text.find('q');
    if (!r->grammar_active) {
      ++free_runs;
      EXPECT_EQ(at, std::string::npos) << r->text;
      continue;
    }
    ++triggered;
    ASSERT_NE(at, std::string::npos);
    if (r->stop_reason == "length") continue;  // the trigger came too late to finish
    ASSERT_EQ(r->stop_reason, "eog");
    auto call = ParseJson(std::string_view(r->text).substr(at + 1), "call");
    ASSERT_TRUE(call.ok()) << r->text;
    const std::string name = (*call)["name"];
    ASSERT_TRUE(name == "move" || name == "say") << r->text;
    Status st = ValidateJson((*call)["arguments"], name == "move" ? move : say);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << r->text;
  }
  EXPECT_GT(triggered, 20);
  EXPECT_GT(free_runs + triggered, 0);
}

TEST(GrammarConstraintTest, ATriggerSplitOverTokensStartsTheGrammarAtItsFirstByte) {
  auto m = Build({.n_vocab = 600, .seed = 10}, "trigger");
  ASSERT_TRUE(m);
  const Tokenizer& tok = m->tokenizer();
  auto vocab = TokenVocabulary::Build(tok);
  Grammar g = MustParse("root ::= \"ab\" [!?]");
  auto byte = [&](char c) { return static_cast<TokenId>(3 + static_cast<unsigned char>(c)); };
  // A piece that starts with 'b' and goes on with letters: it would complete the trigger with
  // bytes the grammar refuses.
  TokenId b_more = -1;
  for (TokenId id = 259; id < vocab->n_tokens() && b_more < 0; ++id) {
    const std::string_view p = vocab->Bytes(id);
    if (p.size() > 1 && p[0] == 'b') b_more = id;
  }
  ASSERT_GE(b_more, 0);
  GrammarConstraint c(g, *vocab, {"ab"});
  EXPECT_FALSE(c.active());
  EXPECT_TRUE(c.Allows(byte('x')));
  EXPECT_TRUE(c.Allows(tok.eos()));  // free text may end
  ASSERT_TRUE(c.Accept(byte('x')));
  ASSERT_TRUE(c.Accept(byte('a')));
  EXPECT_FALSE(c.active());
  EXPECT_TRUE(c.Allows(byte('b')));
  EXPECT_FALSE(c.Allows(b_more)) << vocab->Bytes(b_more);
  EXPECT_FALSE(c.Allowed().Has(b_more));
  EXPECT_TRUE(c.Allowed().Has(byte('b')));
  ASSERT_TRUE(c.Accept(byte('b')));
  EXPECT_TRUE(c.active());
  EXPECT_FALSE(c.complete());
  EXPECT_FALSE(c.Allows(tok.eos()));  // the call is not finished
  const TokenMask& next = c.Allowed();
  for (TokenId id = 0; id < vocab->n_tokens(); ++id) {
    EXPECT_EQ(next.Has(id), id == byte('!') || id == byte('?')) << id;
  }
  ASSERT_TRUE(c.Accept(byte('?')));
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(c.Allows(tok.eos()));
  EXPECT_FALSE(c.Allows(byte('a')));
}

class OnlyEven : public TokenFilter {
 public:
  explicit OnlyEven(int32_t n) {
    mask_.Reset(n);
    for (TokenId i = 0; i < n; i += 2) mask_.Add(i);
  }
  bool Allows(TokenId id) override {
    ++asked;
    return id % 2 == 0;
  }
  const TokenMask& Allowed() override {
    ++masks;
    return mask_;
  }
  int asked = 0, masks = 0;

 private:
  TokenMask mask_;
};

TEST(ConstrainedSamplerTest, ChecksTheSampledTokenFirstAndFallsBackToTheMask) {
  std::vector<float> logits = {1.0f, 5.0f, 4.9f, -3.0f, 0.0f};
  OnlyEven even(5);
  Sampler greedy({.temperature = 0});
  EXPECT_EQ(greedy.Sample(logits.data(), 5, {}, &even), 2);
  EXPECT_EQ(even.masks, 1);
  logits[2] = 6.0f;
  EXPECT_EQ(greedy.Sample(logits.data(), 5, {}, &even), 2);
  EXPECT_EQ(even.masks, 1);  // the first choice fitted: no mask
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    EXPECT_EQ(s.Sample(logits.data(), 5, {}, &even) % 2, 0);
  }
  class None : public TokenFilter {
   public:
    bool Allows(TokenId) override { return false; }
    const TokenMask& Allowed() override {
      m.Reset(5);
      return m;
    }
    TokenMask m;
  } none;
  EXPECT_EQ(greedy.Sample(logits.data(), 5, {}, &none), -1);
}

TEST(TokenVocabularyTest, ControlTokensAreNotTextUnlessNamed) {
  auto m = Build({.n_vocab = 300, .seed = 9}, "vocab");
  ASSERT_TRUE(m);
  const Tokenizer& tok = m->tokenizer();
  auto v = TokenVocabulary::Build(tok);
  EXPECT_TRUE(v->IsEog(tok.eos()));
  EXPECT_FALSE(v->IsText(tok.eos()));
  EXPECT_FALSE(v->IsText(tok.bos()));
  EXPECT_TRUE(v->IsText(3 + 'a'));  // the byte token <0x61>
  EXPECT_EQ(v->Bytes(3 + 'a'), "a");
  auto named = TokenVocabulary::Build(tok, {"<s>"});
  EXPECT_TRUE(named->IsText(tok.bos()));
  EXPECT_EQ(named->Bytes(tok.bos()), "<s>");
  // The end-of-generation token is allowed exactly where the grammar can end.
  Grammar g = MustParse("root ::= \"ab\"");
  GrammarMatcher gm(g);
  EXPECT_FALSE(gm.Allows(*v, tok.eos()));
  EXPECT_TRUE(gm.Allows(*v, 3 + 'a'));
  EXPECT_FALSE(gm.Allows(*v, 3 + 'b'));
  ASSERT_TRUE(gm.Accept("ab"));
  EXPECT_TRUE(gm.Allows(*v, tok.eos()));
  const TokenMask& mask = gm.AllowedTokens(*v);
  for (TokenId id = 0; id < v->n_tokens(); ++id) EXPECT_EQ(mask.Has(id), id == tok.eos()) << id;
}

}  // namespace
}  // namespace naut::engine
