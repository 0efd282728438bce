// Grammars for tool calls and response_format: the forms each family writes, and the embedded
// backend holding a random-weight model to them over hundreds of sampled answers.

#include "llm/tool_grammar.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/json_schema.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/synthetic_model.h"
#include "llm/embedded_backend.h"
#include "llm/tool_calls.h"

namespace naut::llm {
namespace {

std::vector<ToolSpec> GameTools() {
  ToolSpec press;
  press.name = "rpg__press_inline_button";
  press.description = "Press a button";
  press.parameters = Json::parse(R"({"type": "object", "properties": {
      "chat_id": {"type": "integer", "minimum": 0, "maximum": 99},
      "button_text": {"type": "string", "minLength": 1, "maxLength": 8}},
      "required": ["chat_id", "button_text"], "additionalProperties": false})");
  ToolSpec read;
  read.name = "fs__read_file";
  read.description = "Read a file";
  read.parameters = Json::parse(R"({"type": "object", "properties": {
      "path": {"type": "string", "maxLength": 10},
      "head": {"type": "integer", "minimum": 1, "maximum": 50}},
      "required": ["path"]})");
  ToolSpec list;
  list.name = "rpg__list_chats";
  list.description = "List chats";
  list.parameters = Json::parse(R"({"type": "object", "properties": {}})");
  return {press, read, list};
}

bool Matches(const std::string& gbnf, std::string_view text) {
  auto g = engine::Grammar::Parse(gbnf);
  EXPECT_TRUE(g.ok()) << g.error().ToString() << "\n" << gbnf;
  if (!g.ok()) return false;
  engine::GrammarMatcher m(*g);
  return m.Accept(text) && m.CanEnd();
}

// Every call in `content` is one of `tools` with arguments its schema accepts.
void ExpectValidCalls(const std::vector<ToolSpec>& tools, const std::string& content) {
  ToolCallParser parser(tools);
  ParsedToolCalls p = parser.ParseContent(content);
  // The parser runs a call repeated right after itself once and says so; that is policy, not
  // an invalid call.
  for (const std::string& problem : p.problems) {
    EXPECT_NE(problem.find("in a row"), std::string::npos) << content << "\n" << problem;
  }
  ASSERT_FALSE(p.calls.empty()) << content;
  for (const ToolCall& c : p.calls) {
    const ToolSpec* spec = nullptr;
    for (const ToolSpec& t : tools) {
      if (t.name == c.name) spec = &t;
    }
    ASSERT_NE(spec, nullptr) << c.name;
    Status st = ValidateJson(c.arguments, spec->parameters);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << content;
  }
  EXPECT_TRUE(p.repairs.empty()) << content;
}

TEST(ToolGrammarTest, StylesFollowTheTemplate) {
  EXPECT_EQ(ToolCallStyleOfTemplate("<|im_start|>{% for t in tools %}<tool_call>", true),
            ToolCallStyle::kHermes);
  EXPECT_EQ(ToolCallStyleOfTemplate("<|im_start|>{{ m.content }}", false), ToolCallStyle::kHermes);
  EXPECT_EQ(ToolCallStyleOfTemplate("[INST]{{ x }}", false), ToolCallStyle::kJson);
  EXPECT_EQ(ToolCallStyleOfTemplate("[AVAILABLE_TOOLS][TOOL_CALLS]", true),
            ToolCallStyle::kMistral);
  EXPECT_EQ(ToolCallStyleOfTemplate("[TOOL_CALLS]{{ name }}[ARGS]", true),
            ToolCallStyle::kMistralArgs);
  EXPECT_EQ(ToolCallStyleOfTemplate("<|start_header_id|>ipython<|python_tag|>", true),
            ToolCallStyle::kJson);
  EXPECT_EQ(ToolCallStyleOfTemplate("<tool_call>\n<function=f>\n<parameter=x>", true),
            ToolCallStyle::kUnknown);
  EXPECT_EQ(ToolCallStyleOf(ChatFormat::kChatMl), ToolCallStyle::kHermes);
  EXPECT_EQ(ToolCallStyleOf(ChatFormat::kMistralV7), ToolCallStyle::kMistral);
  EXPECT_EQ(ToolCallStyleOf(ChatFormat::kLlama3), ToolCallStyle::kJson);
}

TEST(ToolGrammarTest, EachFormAcceptsValidCallsAndRefusesInvalidOnes) {
  const auto tools = GameTools();
  struct Case {
    ToolCallStyle style;
    std::vector<std::string> valid, invalid;
  };
  const Case cases[] = {
      {ToolCallStyle::kHermes,
       {"<tool_call>\n{\"name\": \"rpg__press_inline_button\", \"arguments\": {\"button_text\": "
        "\"Go\", \"chat_id\": 7}}\n</tool_call>",
        "<tool_call>{\"name\":\"fs__read_file\",\"arguments\":{\"path\":\"a.txt\"}}</tool_call>\n"
        "<tool_call>{\"name\": \"rpg__list_chats\", \"arguments\": {}}</tool_call>",
        "{\"name\": \"rpg__list_chats\", \"arguments\": {}}"},
       {"<tool_call>{\"name\": \"rpg__nope\", \"arguments\": {}}</tool_call>",
        "<tool_call>{\"name\": \"fs__read_file\", \"arguments\": {}}</tool_call>",
        "<tool_call>{\"name\": \"fs__read_file\", \"arguments\": {\"path\": \"a\", \"head\": "
        "0}}</tool_call>",
        "<tool_call>{\"name\": \"fs__read_file\", \"arguments\": {\"path\": \"a\"}}",
        "{\"name\": \"rpg__list_chats\", \"arguments\": {\"properties\": {}}}"}},
      {ToolCallStyle::kMistral,
       {"[TOOL_CALLS][{\"name\": \"fs__read_file\", \"arguments\": {\"head\": 3, \"path\": "
        "\"x\"}}, {\"name\": \"rpg__list_chats\", \"arguments\": {}}]"},
       {"[TOOL_CALLS][]", "[TOOL_CALLS]{\"name\": \"rpg__list_chats\", \"arguments\": {}}"}},
      {ToolCallStyle::kMistralArgs,
       {"[TOOL_CALLS]fs__read_file[ARGS]{\"path\": \"x\"}"},
       {"[TOOL_CALLS]fs__write_file[ARGS]{\"path\": \"x\"}"}},
      {ToolCallStyle::kJson,
       {"{\"name\": \"fs__read_file\", \"parameters\": {\"path\": \"x\"}}",
        "<|python_tag|>{\"name\": \"rpg__list_chats\", \"arguments\": {}}"},
       {"{\"name\": \"fs__read_file\", \"args\": {\"path\": \"x\"}}"}},
  };
  for (const Case& c : cases) {
    auto g = ToolCallGrammar(tools, {}, c.style, {.parallel = true});
    ASSERT_TRUE(g.ok()) << g.error().ToString();
    EXPECT_FALSE(g->triggers.empty());
    for (const std::string& text : c.valid) {
      EXPECT_TRUE(Matches(g->gbnf, text)) << ToolCallStyleName(c.style) << ": " << text;
      // The trigger starts the text (lazy grammars begin at it).
      bool starts = false;
      for (const std::string& t : g->triggers) starts = starts || text.rfind(t, 0) == 0;
      EXPECT_TRUE(starts) << text;
      if (c.style != ToolCallStyle::kMistralArgs) ExpectValidCalls(tools, text);
    }
    for (const std::string& text : c.invalid) {
      EXPECT_FALSE(Matches(g->gbnf, text)) << ToolCallStyleName(c.style) << ": " << text;
    }
  }
}

TEST(ToolGrammarTest, ChoiceUnknownFormsAndInexpressibleSchemas) {
  auto tools = GameTools();
  auto required = ToolCallGrammar(tools, {ToolChoice::Mode::kRequired, ""}, ToolCallStyle::kHermes);
  ASSERT_TRUE(required.ok());
  EXPECT_TRUE(required->triggers.empty());  // forced from the first token
  // One call unless parallel calls are asked for.
  const std::string two =
      "<tool_call>{\"name\": \"rpg__list_chats\", \"arguments\": {}}</tool_call>\n"
      "<tool_call>{\"name\": \"rpg__list_chats\", \"arguments\": {}}</tool_call>";
  EXPECT_FALSE(Matches(required->gbnf, two));
  EXPECT_TRUE(Matches(required->gbnf, two.substr(0, two.find('\n'))));
  auto one = ToolCallGrammar(tools, {ToolChoice::Mode::kFunction, "fs__read_file"},
                             ToolCallStyle::kHermes);
  ASSERT_TRUE(one.ok());
  EXPECT_FALSE(Matches(
      one->gbnf, "<tool_call>{\"name\": \"rpg__list_chats\", \"arguments\": {}}</tool_call>"));
  EXPECT_TRUE(Matches(
      one->gbnf,
      "<tool_call>{\"name\": \"fs__read_file\", \"arguments\": {\"path\": \"\"}}</tool_call>"));
  EXPECT_EQ(ToolCallGrammar(tools, {ToolChoice::Mode::kFunction, "nope"}, ToolCallStyle::kHermes)
                .error()
                .code(),
            Code::kInvalidArgument);
  auto unknown = ToolCallGrammar(tools, {}, ToolCallStyle::kUnknown);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), Code::kUnimplemented);
  EXPECT_NE(unknown.error().message().find("not one the engine can constrain"), std::string::npos);
  // A pattern keeps the tool's name forced and its arguments any object, with a note.
  tools[1].parameters["properties"]["path"]["pattern"] = "^[a-z]+$";
  auto noted = ToolCallGrammar(tools, {}, ToolCallStyle::kHermes);
  ASSERT_TRUE(noted.ok());
  ASSERT_EQ(noted->notes.size(), 1u);
  EXPECT_NE(noted->notes[0].find("fs__read_file"), std::string::npos);
  EXPECT_NE(noted->notes[0].find("pattern"), std::string::npos);
  EXPECT_TRUE(
      Matches(noted->gbnf,
              "<tool_call>{\"name\": \"fs__read_file\", \"arguments\": {\"x\": 1}}</tool_call>"));

  // A thinking model: a forced call may follow its reasoning; a lazy grammar waits for the tag.
  auto thinking = ToolCallGrammar(tools, {ToolChoice::Mode::kRequired, ""}, ToolCallStyle::kHermes,
                                  {.reasoning = true});
  ASSERT_TRUE(thinking.ok());
  const std::string call =
      "<tool_call>{\"name\": \"rpg__list_chats\", \"arguments\": {}}</tool_call>";
  EXPECT_TRUE(Matches(thinking->gbnf, call));
  EXPECT_TRUE(
      Matches(thinking->gbnf, "<think>\nThe user wants {\"name\": 1} chats.\n</think>\n" + call));
  EXPECT_FALSE(Matches(thinking->gbnf, "<think>no end" + call));
  auto lazy_thinking = ToolCallGrammar(tools, {}, ToolCallStyle::kHermes, {.reasoning = true});
  ASSERT_TRUE(lazy_thinking.ok());
  EXPECT_EQ(lazy_thinking->triggers, std::vector<std::string>{"<tool_call>"});

  ResponseFormat bad;
  bad.type = ResponseFormat::Type::kJsonSchema;
  bad.name = "answer";
  bad.schema = Json::parse(R"({"type": "string", "format": "email"})");
  auto refused = ResponseFormatGrammar(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("response_format json_schema 'answer'"),
            std::string::npos);
  EXPECT_NE(refused.error().message().find("'format'"), std::string::npos);
}

// Lazy grammars of every form, driven by random choices among the tokens they allow: free
// text, the trigger written byte by byte, then whatever the grammar permits until it ends.
TEST(ToolGrammarTest, RandomWalksThroughLazyGrammarsEndInValidCalls) {
  engine::SyntheticModelSpec spec;
  spec.n_vocab = 600;
  spec.n_embd = 32;
  spec.n_ff = 64;
  const std::string path = testing::TempDir() + "naut-walk-" + std::to_string(getpid()) + ".gguf";
  std::ofstream(path, std::ios::binary) << engine::BuildSyntheticModel(spec).ToBytes();
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  const engine::Tokenizer& tok = (*model)->tokenizer();
  const auto tools = GameTools();
  const ToolCallParser parser(tools);
  for (ToolCallStyle style :
       {ToolCallStyle::kHermes, ToolCallStyle::kMistral, ToolCallStyle::kJson}) {
    auto og = ToolCallGrammar(tools, {}, style);
    ASSERT_TRUE(og.ok());
    auto g = engine::Grammar::Parse(og->gbnf);
    ASSERT_TRUE(g.ok()) << g.error().ToString();
    auto vocab = engine::TokenVocabulary::Build(tok, og->special_text);
    int completed = 0;
    for (uint32_t seed = 0; seed < 100; ++seed) {
      std::mt19937 rng(seed);
      engine::GrammarConstraint c(*g, *vocab, og->triggers);
      std::string text;
      auto take = [&](engine::TokenId id) {
        ASSERT_TRUE(c.Accept(id)) << id;
        text += vocab->Bytes(id);
      };
      // Free text of letters (no trigger in it), then a trigger byte by byte.
      for (int k = static_cast<int>(rng() % 4); k > 0; --k)
        take(3 + 'a' + static_cast<int>(rng() % 26));
      const std::string& trigger = og->triggers[rng() % og->triggers.size()];
      for (char ch : trigger) take(3 + static_cast<unsigned char>(ch));
      ASSERT_TRUE(c.active()) << text;
      bool ended = false;
      for (int step = 0; step < 4000 && !ended; ++step) {
        const engine::TokenMask& allowed = c.Allowed();
        std::vector<engine::TokenId> ids;
        for (engine::TokenId id = 0; id < vocab->n_tokens(); ++id) {
          if (allowed.Has(id)) ids.push_back(id);
        }
        ASSERT_FALSE(ids.empty()) << text;
        const engine::TokenId id = ids[rng() % ids.size()];
        if (vocab->IsEog(id)) {
          ended = true;
        } else {
          take(id);
        }
      }
      ASSERT_TRUE(ended) << text;
      ASSERT_TRUE(c.complete());
      ++completed;
      ExpectValidCalls(tools, text);
    }
    EXPECT_EQ(completed, 100) << ToolCallStyleName(style);
  }
  std::filesystem::remove(path);
}

// A random-weight model writes whatever its weights say; the grammar must make all of it valid.
class ConstrainedBackendTest : public testing::Test {
 protected:
  void SetUp() override {
    engine::SyntheticModelSpec spec;
    spec.arch = "qwen2";
    spec.n_vocab = 600;
    spec.n_embd = 64;
    spec.n_ff = 128;
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ctx = 4096;
    spec.seed = 17;
    engine::GgufWriter w = engine::BuildSyntheticModel(spec);
    path_ = testing::TempDir() + "naut-constrained-" + std::to_string(getpid()) + ".gguf";
    std::ofstream(path_, std::ios::binary) << w.ToBytes();
    auto b = EmbeddedBackend::Load(
        {.model_path = path_, .context_size = 4096, .threads = 2, .chat_format = "chatml"});
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    backend_ = std::move(*b);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  static ChatRequest Request(int64_t seed) {
    ChatRequest r;
    r.messages = {Message::System("You play a game."), Message::User("Press the Go button.")};
    r.sampling.temperature = 1.0;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0;
    r.sampling.min_p = 0.0;
    r.sampling.seed = seed;
    r.sampling.max_tokens = 600;
    return r;
  }

  std::string path_;
  std::unique_ptr<EmbeddedBackend> backend_;
};

TEST_F(ConstrainedBackendTest, RequiredToolCallsAreAlwaysValid) {
  EXPECT_EQ(backend_->tool_call_style(), ToolCallStyle::kHermes);
  const auto tools = GameTools();
  for (int64_t seed = 0; seed < 120; ++seed) {
    ChatRequest r = Request(seed);
    r.tools = tools;
    r.tool_choice.mode = seed % 4 == 0 ? ToolChoice::Mode::kFunction : ToolChoice::Mode::kRequired;
    r.tool_choice.function = "rpg__press_inline_button";
    auto out = backend_->Chat(r, {});
    ASSERT_TRUE(out.ok()) << out.error().ToString();
    ASSERT_EQ(out->finish_reason, FinishReason::kStop) << out->content;
    ExpectValidCalls(tools, out->content);
    if (r.tool_choice.mode == ToolChoice::Mode::kFunction) {
      EXPECT_EQ(out->content.find("fs__read_file"), std::string::npos) << out->content;
    }
  }
}

TEST_F(ConstrainedBackendTest, ResponseFormatsHoldTheAnswerToJson) {
  const Json schema = Json::parse(R"({"type": "object", "properties": {
      "success": {"type": "boolean"}, "reasoning": {"type": "string", "maxLength": 12},
      "critique": {"type": "string", "maxLength": 12}, "score": {"type": "integer", "minimum": 0, "maximum": 10}},
      "required": ["success", "reasoning", "critique"], "additionalProperties": false})");
  for (int64_t seed = 0; seed < 100; ++seed) {
    ChatRequest r = Request(seed);
    r.response_format.type = ResponseFormat::Type::kJsonSchema;
    r.response_format.schema = schema;
    auto out = backend_->Chat(r, {});
    ASSERT_TRUE(out.ok()) << out.error().ToString();
    auto j = ParseJson(out->content, "answer");
    ASSERT_TRUE(j.ok()) << out->content;
    Status st = ValidateJson(*j, schema, "answer");
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << out->content;
  }
  ChatRequest obj = Request(1);
  obj.sampling.max_tokens = 4000;
  obj.response_format.type = ResponseFormat::Type::kJsonObject;
  auto out = backend_->Chat(obj, {});
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  ASSERT_FALSE(out->content.empty());
  EXPECT_EQ(out->content[0], '{');
  if (out->finish_reason == FinishReason::kStop) {
    auto j = ParseJson(out->content, "answer");
    ASSERT_TRUE(j.ok()) << out->content;
    EXPECT_TRUE(j->is_object());
  }

  ChatRequest bad = Request(1);
  bad.response_format.type = ResponseFormat::Type::kJsonSchema;
  bad.response_format.schema = Json::parse(R"({"type": "string", "pattern": "^a$"})");
  auto refused = backend_->Chat(bad, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, LlmError::Kind::kBadRequest);
  EXPECT_NE(refused.error().message.find("'pattern' cannot be expressed"), std::string::npos);
}

TEST(ConstrainedBackend, AnUnknownToolCallFormIsSaidNotGuessed) {
  engine::SyntheticModelSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 32;
  spec.n_ff = 64;
  spec.n_ctx = 2048;
  engine::GgufWriter w = engine::BuildSyntheticModel(spec);
  // A Qwen3-Coder-like template: tools shown, calls written as XML.
  w.AddString(
      "tokenizer.chat_template",
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
      "{% if tools %}{% for t in tools %}{{ t.function.name }}{% endfor %}<tool_call>\n"
      "<function=name>\n<parameter=x>{% endif %}{% if add_generation_prompt %}"
      "<|im_start|>assistant\n{% endif %}");
  const std::string path =
      testing::TempDir() + "naut-xmltools-" + std::to_string(getpid()) + ".gguf";
  std::ofstream(path, std::ios::binary) << w.ToBytes();
  auto b = EmbeddedBackend::Load({.model_path = path, .context_size = 2048, .threads = 1});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ((*b)->tool_call_style(), ToolCallStyle::kUnknown);
  ChatRequest r;
  r.messages = {Message::User("hi")};
  r.tools = GameTools();
  r.sampling.max_tokens = 4;
  EXPECT_TRUE((*b)->Chat(r, {}).ok());  // auto: free text, as without constraints
  r.tool_choice.mode = ToolChoice::Mode::kRequired;
  auto refused = (*b)->Chat(r, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, LlmError::Kind::kBadRequest);
  EXPECT_NE(refused.error().message.find("tool_choice cannot be enforced"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace naut::llm
