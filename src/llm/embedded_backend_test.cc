// The embedded backend on a small random-weight model written by the engine's GGUF writer:
// what a ChatModel caller sees (content, streaming, usage with prefix reuse, errors).

#include "llm/embedded_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/synthetic_model.h"
#include "llm/model_factory.h"

namespace naut::llm {
namespace {

std::string WriteModel(const std::string& tag, const std::string& chat_template) {
  engine::SyntheticModelSpec spec;
  spec.arch = "qwen2";
  spec.n_vocab = 600;
  spec.n_embd = 64;
  spec.n_ff = 128;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ctx = 256;
  spec.seed = 7;
  engine::GgufWriter w = engine::BuildSyntheticModel(spec);
  if (!chat_template.empty()) w.AddString("tokenizer.chat_template", chat_template);
  const std::string path =
      testing::TempDir() + "naut-embedded-" + std::to_string(getpid()) + "-" + tag + ".gguf";
  std::ofstream(path, std::ios::binary) << w.ToBytes();
  return path;
}

class EmbeddedBackendTest : public testing::Test {
 protected:
  void SetUp() override { path_ = WriteModel("chatml", "{{ '<|im_start|>' + m.role }}"); }
  void TearDown() override { std::filesystem::remove(path_); }

  static ChatRequest Request(std::vector<Message> messages, int max_tokens = 8) {
    ChatRequest r;
    r.messages = std::move(messages);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = max_tokens;
    return r;
  }

  std::string path_;
};

TEST_F(EmbeddedBackendTest, AnswersStreamsAndReusesThePromptPrefix) {
  auto b = EmbeddedBackend::Load({.model_path = path_, .context_size = 256, .threads = 2});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ((*b)->format(), ChatFormat::kChatMl);
  EXPECT_NE((*b)->Describe().find("chatml"), std::string::npos);

  std::vector<Message> chat = {Message::System("You play."), Message::User("Start the game.")};
  std::string streamed;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) { streamed += d.content; };
  auto first = (*b)->Chat(Request(chat), opts);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->usage.completion_tokens, 8);
  EXPECT_EQ(first->finish_reason, FinishReason::kLength);
  EXPECT_EQ(streamed, first->content);
  EXPECT_GT(first->usage.prompt_tokens, 10);
  EXPECT_EQ(first->usage.cached_tokens, 0);
  EXPECT_GT(first->TokensPerSecond(), 0);

  // Greedy is deterministic, and the next turn extends the same prompt: only the suffix is new.
  auto again = (*b)->Chat(Request(chat), {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->content, first->content);
  chat.push_back(Message::Assistant(first->content));
  chat.push_back(Message::User("Go north."));
  auto next = (*b)->Chat(Request(chat), {});
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  EXPECT_GE(next->usage.cached_tokens, first->usage.prompt_tokens);
  EXPECT_LT(next->usage.cached_tokens, next->usage.prompt_tokens);
}

// Three prompts that start differently, as the agent's actor, critic and skill writer prompts
// do (each over 32 tokens, sharing only the chat format's first few).
std::vector<Message> Actor() {
  return {Message::System("Actor: play the game with the tools, a step at a time."),
          Message::User("Task: reach the inn.")};
}
std::vector<Message> Critic() {
  return {Message::User("Critic: did the agent reach the inn? Answer yes or no, then why.")};
}
std::vector<Message> Writer() {
  return {Message::User("Writer: write one Python function that does this task again.")};
}

TEST_F(EmbeddedBackendTest, InterleavedPromptsKeepTheirCachedPrefixesInTheirOwnSlots) {
  auto b =
      EmbeddedBackend::Load({.model_path = path_, .context_size = 256, .threads = 1, .slots = 2});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ((*b)->slots(), 2);
  std::vector<Message> actor = Actor();
  auto a = (*b)->Chat(Request(actor), {});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  auto c = (*b)->Chat(Request(Critic()), {});
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_LT(c->usage.cached_tokens, 32);  // nothing in common with the actor's prompt

  // The actor's next turn finds its prompt still cached, though the critic ran in between.
  actor.push_back(Message::Assistant(a->content));
  actor.push_back(Message::User("Go north."));
  auto a2 = (*b)->Chat(Request(actor), {});
  ASSERT_TRUE(a2.ok()) << a2.error().ToString();
  EXPECT_GE(a2->usage.cached_tokens, a->usage.prompt_tokens);
  // And again: the slot that shares the prompt wins even when it is not the least recently
  // used one.
  actor.push_back(Message::Assistant(a2->content));
  actor.push_back(Message::User("Go in."));
  auto a3 = (*b)->Chat(Request(actor), {});
  ASSERT_TRUE(a3.ok()) << a3.error().ToString();
  EXPECT_GE(a3->usage.cached_tokens, a2->usage.prompt_tokens);
  // The critic's slot was left alone meanwhile.
  auto c2 = (*b)->Chat(Request(Critic()), {});
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->usage.cached_tokens, c->usage.prompt_tokens - 1);  // the last is re-evaluated
  EXPECT_EQ(c2->content, c->content);
}

TEST_F(EmbeddedBackendTest, WithOneSlotAnInterleavedPromptEvictsTheOther) {
  auto b =
      EmbeddedBackend::Load({.model_path = path_, .context_size = 256, .threads = 1, .slots = 1});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  std::vector<Message> actor = Actor();
  auto a = (*b)->Chat(Request(actor), {});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*b)->Chat(Request(Critic()), {}).ok());
  actor.push_back(Message::Assistant(a->content));
  actor.push_back(Message::User("Go north."));
  auto a2 = (*b)->Chat(Request(actor), {});
  ASSERT_TRUE(a2.ok());
  EXPECT_LT(a2->usage.cached_tokens, 32);
  EXPECT_GT(a->usage.prompt_tokens, 32);
}

TEST_F(EmbeddedBackendTest, APromptSharingNoSlotsPrefixReplacesTheLeastRecentlyUsed) {
  auto b =
      EmbeddedBackend::Load({.model_path = path_, .context_size = 256, .threads = 1, .slots = 2});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  auto a = (*b)->Chat(Request(Actor()), {});
  auto c = (*b)->Chat(Request(Critic()), {});
  ASSERT_TRUE(a.ok() && c.ok());
  // The actor's cache is the longer one: evicting the shorter cache would pick the critic's.
  ASSERT_GT(a->usage.prompt_tokens, c->usage.prompt_tokens);
  auto w = (*b)->Chat(Request(Writer()), {});
  ASSERT_TRUE(w.ok());
  EXPECT_LT(w->usage.cached_tokens, 32);
  // The writer took the actor's slot (used longest ago); the critic's is intact.
  auto c2 = (*b)->Chat(Request(Critic()), {});
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->usage.cached_tokens, c->usage.prompt_tokens - 1);
  auto a2 = (*b)->Chat(Request(Actor()), {});
  ASSERT_TRUE(a2.ok());
  EXPECT_LT(a2->usage.cached_tokens, 32);
}

TEST(EmbeddedBackend, SlotsOutsideTheirRangeAreRefused) {
  const std::string path = WriteModel("slots", "<|im_start|>");
  for (int slots : {0, 65}) {
    auto b = EmbeddedBackend::Load({.model_path = path, .context_size = 64, .slots = slots});
    ASSERT_FALSE(b.ok()) << slots;
    EXPECT_NE(b.error().message().find("slots must be 1..64"), std::string::npos)
        << b.error().ToString();
  }
  std::filesystem::remove(path);
}

// An embedding model (scripts/embed_model.sh makes it) is refused as a chat model, saying where
// it belongs.
TEST(EmbeddedBackend, AnEmbeddingModelIsRefusedForChat) {
  const std::string path = NAUT_SOURCE_DIR "/models/all-MiniLM-L6-v2-F32.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (scripts/embed_model.sh)";
  auto b = EmbeddedBackend::Load({.model_path = path, .context_size = 64});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), Code::kInvalidArgument);
  EXPECT_NE(b.error().message().find("[embeddings] model"), std::string::npos)
      << b.error().ToString();
}

TEST_F(EmbeddedBackendTest, StopStringsEndTheAnswerBeforeThem) {
  auto b = EmbeddedBackend::Load({.model_path = path_, .context_size = 256, .threads = 1});
  ASSERT_TRUE(b.ok());
  auto free = (*b)->Chat(Request({Message::User("Tell a story.")}, 24), {});
  ASSERT_TRUE(free.ok());
  ASSERT_GE(free->content.size(), 4u);
  // Stop at a piece of what greedy decoding writes anyway.
  ChatRequest r = Request({Message::User("Tell a story.")}, 24);
  const std::string stop = free->content.substr(free->content.size() / 2, 2);
  r.stop = {stop};
  auto stopped = (*b)->Chat(r, {});
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->content, free->content.substr(0, free->content.find(stop)));
}

TEST_F(EmbeddedBackendTest, ErrorsAreTyped) {
  auto b = EmbeddedBackend::Load({.model_path = path_, .context_size = 64, .threads = 1});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->context_size(), 64);
  auto big = (*b)->Chat(Request({Message::User(std::string(400, 'x'))}), {});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind, LlmError::Kind::kContextLengthExceeded) << big.error().ToString();

  auto empty = (*b)->Chat(Request({}), {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind, LlmError::Kind::kBadRequest);

  ChatRequest json = Request({Message::User("hi")});
  json.response_format.type = ResponseFormat::Type::kJsonSchema;
  json.response_format.schema = Json{{"type", "string"}, {"pattern", "^a+$"}};
  auto refused = (*b)->Chat(json, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, LlmError::Kind::kBadRequest);
  EXPECT_NE(refused.error().message.find("response_format"), std::string::npos);

  std::stop_source stop;
  CallOptions cancel;
  cancel.cancel = stop.get_token();
  cancel.on_delta = [&](const StreamDelta&) { stop.request_stop(); };
  auto cancelled = (*b)->Chat(Request({Message::User("hi")}, 32), cancel);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().kind, LlmError::Kind::kCancelled);
  // The context is still usable afterwards.
  EXPECT_TRUE((*b)->Chat(Request({Message::User("hi")}, 2), {}).ok());

  // Cancelled before the prompt is evaluated: stopped between its batches, not after them.
  std::stop_source early;
  early.request_stop();
  CallOptions before;
  before.cancel = early.get_token();
  before.on_delta = [](const StreamDelta&) { ADD_FAILURE() << "a token after the cancel"; };
  auto stopped = (*b)->Chat(Request({Message::User("hello there")}, 8), before);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().kind, LlmError::Kind::kCancelled);
  EXPECT_TRUE((*b)->Chat(Request({Message::User("hello there")}, 2), {}).ok());
}

TEST(EmbeddedBackend, ModelWithoutTemplateNeedsAChatFormat) {
  const std::string path = WriteModel("plain", "");
  auto refused = EmbeddedBackend::Load({.model_path = path});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("no chat template"), std::string::npos)
      << refused.error().ToString();
  auto named =
      EmbeddedBackend::Load({.model_path = path, .context_size = 128, .chat_format = "gemma"});
  ASSERT_TRUE(named.ok()) << named.error().ToString();
  EXPECT_EQ((*named)->format(), ChatFormat::kGemma);
  auto unknown = EmbeddedBackend::Load({.model_path = path, .chat_format = "jinja"});
  ASSERT_FALSE(unknown.ok());
  std::filesystem::remove(path);
}

TEST(EmbeddedBackend, FactoryBuildsItFromConfig) {
  const std::string path = WriteModel("factory", "<start_of_turn>");
  LlmConfig c;
  c.backend = "embedded";
  c.model = path;
  c.context_size = 128;
  c.threads = 1;
  auto m = MakeChatModel(c);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_NE((*m)->Describe().find("gemma"), std::string::npos);
  ChatRequest r;
  r.messages = {Message::User("hi")};
  r.sampling.max_tokens = 3;
  auto a = (*m)->Chat(r, {});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(a->usage.completion_tokens, 3);

  c.model = path + ".missing";
  auto missing = MakeChatModel(c);
  ASSERT_FALSE(missing.ok());
  std::filesystem::remove(path);
}

TEST(EmbeddedBackend, RendersTheModelsOwnJinjaTemplate) {
  // Markers of no built-in family: such a file was refused before templates were rendered.
  const std::string body =
      "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
      "{% if add_generation_prompt %}[assistant] {% endif %}";
  const std::string with_bos = WriteModel("jinja-bos", "{{ bos_token }}" + body);
  const std::string without_bos = WriteModel("jinja", body);
  auto b = EmbeddedBackend::Load({.model_path = with_bos, .context_size = 128, .threads = 1});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  ASSERT_NE((*b)->chat_template(), nullptr);
  EXPECT_FALSE((*b)->has_format());
  EXPECT_NE((*b)->Describe().find("chat template from the model's tokenizer.chat_template"),
            std::string::npos)
      << (*b)->Describe();
  ChatRequest r;
  r.messages = {Message::System("Play."), Message::User("hi")};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 2;
  auto a = (*b)->Chat(r, {});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  // The tokenizer adds BOS itself, so the template's own is dropped: one BOS either way.
  auto twin = EmbeddedBackend::Load({.model_path = without_bos, .context_size = 128, .threads = 1});
  ASSERT_TRUE(twin.ok());
  auto c = (*twin)->Chat(r, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(a->usage.prompt_tokens, c->usage.prompt_tokens);
  std::filesystem::remove(with_bos);
  std::filesystem::remove(without_bos);
}

TEST(EmbeddedBackend, ChatTemplateFileOverridesTheModels) {
  const std::string path = WriteModel("override", "");
  const std::string file =
      testing::TempDir() + "naut-embedded-" + std::to_string(getpid()) + ".jinja";
  std::ofstream(file) << "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<model>";
  auto b = EmbeddedBackend::Load(
      {.model_path = path, .context_size = 128, .threads = 1, .chat_template = file});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_NE((*b)->PromptFormat().find(file), std::string::npos) << (*b)->PromptFormat();

  std::ofstream(file) << "{% for m in messages %}\n{{ m.content }";
  auto broken = EmbeddedBackend::Load({.model_path = path, .chat_template = file});
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find(file + " line 2, column"), std::string::npos)
      << broken.error().message();

  auto missing = EmbeddedBackend::Load({.model_path = path, .chat_template = file + ".missing"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("chat_template"), std::string::npos);

  auto both =
      EmbeddedBackend::Load({.model_path = path, .chat_format = "chatml", .chat_template = file});
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message().find("not both"), std::string::npos);
  std::filesystem::remove(file);
  std::filesystem::remove(path);
}

TEST(EmbeddedBackend, AChatTheTemplateRefusesIsWrittenInTheBuiltInFormatOrRefused) {
  const std::string refusal =
      "{% for m in messages %}{% if 'forbidden' in m.content %}"
      "{{ raise_exception('This model does not talk about that') }}{% endif %}";
  const std::string plain = WriteModel("refuses", refusal + "{{ m.content }}{% endfor %}");
  const std::string chatml =
      WriteModel("refuses-chatml", refusal + "<|im_start|>{{ m.content }}{% endfor %}");
  ChatRequest r;
  r.messages = {Message::User("a forbidden topic")};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 2;

  auto b = EmbeddedBackend::Load({.model_path = plain, .context_size = 128, .threads = 1});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  auto refused = (*b)->Chat(r, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, LlmError::Kind::kBadRequest);
  EXPECT_NE(refused.error().message.find("This model does not talk about that"), std::string::npos)
      << refused.error().message;

  auto fallback = EmbeddedBackend::Load({.model_path = chatml, .context_size = 128, .threads = 1});
  ASSERT_TRUE(fallback.ok()) << fallback.error().ToString();
  EXPECT_TRUE((*fallback)->has_format());
  auto answered = (*fallback)->Chat(r, {});
  ASSERT_TRUE(answered.ok()) << answered.error().ToString();
  std::filesystem::remove(plain);
  std::filesystem::remove(chatml);
}

TEST(EmbeddedBackend, BrokenModelFileIsRefusedWithItsName) {
  const std::string path =
      testing::TempDir() + "naut-embedded-broken-" + std::to_string(getpid()) + ".gguf";
  std::ofstream(path, std::ios::binary) << "GGUF\x03\x00\x00\x00garbage";
  auto b = EmbeddedBackend::Load({.model_path = path});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().ToString().find(path), std::string::npos) << b.error().ToString();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace naut::llm
