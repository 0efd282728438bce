// `neuronaut model template render` as a user runs it: the exact rendered text on stdout (no
// newline added), exit 1 with the template's message, line and column when it raises, the
// case-file form of the input, and a GGUF's own template with its vocabulary's special tokens.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/ids.h"
#include "core/subprocess.h"
#include "engine/synthetic_model.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class CliTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-cli-template-" + NewId());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  CommandResult Render(std::vector<std::string> args) {
    args.insert(args.begin(), {NAUT_CLI, "model", "template", "render"});
    auto r =
        RunCommand({.argv = args, .env = {{"NEURONAUT_HOME", (dir_ / "home").string()}}}, "", 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }

  fs::path dir_;
};

constexpr char kChatMl[] =
    "{%- for m in messages %}\n"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}\n";

TEST_F(CliTemplateTest, PrintsExactlyWhatTheTemplateRenders) {
  const std::string tmpl = Write("chatml.jinja", kChatMl);
  const std::string input = Write(
      "chat.json",
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi ✓"}],
          "add_generation_prompt": true})");
  auto r = Render({"--template", tmpl, "--input", input});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi ✓<|im_end|>\n"
            "<|im_start|>assistant\n");

  // A conformance case file: its "input" is the variables.
  const std::string case_file = Write(
      "case.json",
      R"({"template": "chatml.jinja", "input": {"messages": [{"role": "user", "content": "x"}],
          "add_generation_prompt": false}, "output": "ignored"})");
  r = Render({"--template", tmpl, "--input", case_file});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>user\nx<|im_end|>\n");
}

TEST_F(CliTemplateTest, VariablesAreTheOnesTransformersPasses) {
  const std::string tmpl =
      Write("vars.jinja",
            "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} "
            "{{ extra }} {{ tools|tojson if tools else '' }}{{ strftime_now('%Y-%m-%d %H:%M') }}");
  auto r = Render({"--template", tmpl, "--input", Write("a.json", R"({"extra": {"b": 1, "a": 2}})"),
                   "--now", "2026-11-24 09:30"});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "True True False {'b': 1, 'a': 2} 2026-11-24 09:30");
}

TEST_F(CliTemplateTest, ATemplateThatRaisesExitsOneWithItsMessage) {
  const std::string tmpl = Write(
      "refuse.jinja",
      "{% for m in messages %}\n  {% if m.role == 'system' %}{{ raise_exception('System role not "
      "supported') }}{% endif %}\n{% endfor %}");
  auto r = Render({"--template", tmpl, "--input",
                   Write("sys.json", R"({"messages": [{"role": "system", "content": "x"}]})")});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("System role not supported"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("refuse.jinja line 2, column"), std::string::npos) << r.err;

  const std::string broken = Write("broken.jinja", "ok\n{% for m in messages %}{{ m }}");
  r = Render({"--template", broken, "--input", Write("e.json", "{}")});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("never closed"), std::string::npos) << r.err;
}

TEST_F(CliTemplateTest, BadArgumentsAndInputsAreNamed) {
  const std::string tmpl = Write("t.jinja", "x");
  auto r = Render({"--input", Write("e.json", "{}")});
  EXPECT_NE(r.status.exit_code, 0);
  EXPECT_NE(r.err.find("--template"), std::string::npos) << r.err;
  r = Render({"--template", tmpl, "--input", Write("bad.json", "{\"messages\": [")});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
  r = Render({"--template", tmpl, "--input", Write("list.json", "[1, 2]")});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("JSON object"), std::string::npos) << r.err;
  r = Render({"--template", (dir_ / "missing.jinja").string(), "--input", Write("e2.json", "{}")});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("missing.jinja"), std::string::npos) << r.err;
}

TEST_F(CliTemplateTest, RendersAGgufsOwnTemplateWithItsSpecialTokens) {
  engine::SyntheticModelSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 32;
  spec.n_ff = 64;
  spec.n_layer = 1;
  spec.n_head = 2;
  spec.n_head_kv = 1;
  engine::GgufWriter w = engine::BuildSyntheticModel(spec);
  w.AddString("tokenizer.chat_template",
              "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}"
              "{% endfor %}");
  const std::string model = Write("model.gguf", w.ToBytes());
  auto r = Render(
      {model, "--input", Write("u.json", R"({"messages": [{"role": "user", "content": "hi"}]})")});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "<s>[user] hi</s>");

  const std::string plain = Write("plain.gguf", engine::BuildSyntheticModel(spec).ToBytes());
  r = Render({plain, "--input", Write("u2.json", "{}")});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("has no chat template"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace naut
