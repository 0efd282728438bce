#include "core/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.h"

namespace naut {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-config-" + NewId());
    fs::create_directories(home_);
    env_["NEURONAUT_HOME"] = home_.string();
  }
  void TearDown() override { fs::remove_all(home_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(home_ / name) << text;
  }
  Result<Config> Load(ConfigOverrides o = {}) {
    return LoadConfig(o, [this](const std::string& k) -> std::optional<std::string> {
      auto it = env_.find(k);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }
  std::string Error(ConfigOverrides o = {}) {
    auto c = Load(std::move(o));
    EXPECT_FALSE(c) << "expected an error";
    return c ? "" : c.error().message();
  }

  fs::path home_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, DefaultsWhenNoFile) {
  auto c = Load();
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_FALSE(c->config_file_present);
  EXPECT_EQ(c->home, home_);
  EXPECT_EQ(c->llm.backend, "openai");
  EXPECT_EQ(c->origins.at("llm.base_url"), "default");
  EXPECT_EQ(c->origins.at("home"), "env NEURONAUT_HOME");
}

TEST_F(ConfigTest, FileThenEnvThenFlags) {
  Write("neuronaut.toml",
        "[llm]\nbase_url = \"http://file:1\"\nmodel = \"m-file\"\ntimeout_s = "
        "30\n[agent]\nmax_rounds = 6\n");
  env_["LLM_MODEL"] = "m-env";
  env_["LLM_BASE_URL"] = "http://env:2";
  ConfigOverrides o;
  o.settings = {{"llm.base_url", "http://flag:3"}};
  o.flag_names = {{"llm.base_url", "--llm-base-url"}};
  auto c = Load(o);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->llm.base_url, "http://flag:3");
  EXPECT_EQ(c->origins.at("llm.base_url"), "flag --llm-base-url");
  EXPECT_EQ(c->llm.model, "m-env");
  EXPECT_EQ(c->origins.at("llm.model"), "env LLM_MODEL");
  EXPECT_EQ(c->llm.timeout_s, 30);
  EXPECT_EQ(c->agent.max_rounds, 6);
  EXPECT_EQ(c->origins.at("agent.max_rounds"), "file " + (home_ / "neuronaut.toml").string());
}

TEST_F(ConfigTest, ListedEndpointsReplaceTheDefaultBaseUrl) {
  Write("neuronaut.toml", "[llm]\nendpoints = [\"http://a:1\", \"http://b:2\"]\n");
  auto c = Load();
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->llm.base_url, "http://a:1");
  EXPECT_EQ(c->origins.at("llm.base_url"), "the first of llm.endpoints");

  // A base_url the user sets stays in the pool beside the endpoints.
  env_["LLM_BASE_URL"] = "http://c:3";
  auto d = Load();
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->llm.base_url, "http://c:3");
  EXPECT_EQ(d->llm.endpoints.size(), 2u);
}

TEST_F(ConfigTest, MalformedTomlNamesFileAndLine) {
  Write("neuronaut.toml", "[llm]\nbase_url = \"http://x\n");
  std::string e = Error();
  EXPECT_NE(e.find((home_ / "neuronaut.toml").string() + ":2"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed TOML"), std::string::npos) << e;
}

TEST_F(ConfigTest, WrongTypeNamesKeyValueAndExpectation) {
  Write("neuronaut.toml", "[agent]\nmax_rounds = \"four\"\n");
  std::string e = Error();
  EXPECT_NE(e.find("[agent] max_rounds = \"four\" is invalid: expected an integer from 1 to 100, "
                   "got a string"),
            std::string::npos)
      << e;
}

TEST_F(ConfigTest, LlmSlotsDefaultToTwoWithinOneToSixtyFour) {
  auto c = Load();
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->llm.slots, 2);
  EXPECT_NE(RenderConfig(*c).find("slots = 2"), std::string::npos) << RenderConfig(*c);
  Write("neuronaut.toml", "[llm]\nslots = 4\n");
  auto d = Load();
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->llm.slots, 4);
  Write("neuronaut.toml", "[llm]\nslots = 0\n");
  std::string e = Error();
  EXPECT_NE(e.find("[llm] slots = 0 is invalid: expected an integer from 1 to 64"),
            std::string::npos)
      << e;
}

TEST_F(ConfigTest, BadUrlIsExplained) {
  Write("neuronaut.toml", "[llm]\nbase_url = \"htp://x\"\n");
  std::string e = Error();
  EXPECT_NE(e.find("[llm] base_url = \"htp://x\" is invalid: expected an http(s) URL"),
            std::string::npos)
      << e;
}

TEST_F(ConfigTest, UnknownKeyAndSectionAreReported) {
  Write("neuronaut.toml", "[llm]\nbase_ulr = \"http://x\"\n");
  std::string e = Error();
  EXPECT_NE(e.find("unknown key 'base_ulr' in [llm]; known keys: backend, base_url"),
            std::string::npos)
      << e;
  Write("neuronaut.toml", "[lmm]\nx = 1\n");
  e = Error();
  EXPECT_NE(e.find("unknown section [lmm]"), std::string::npos) << e;
}

TEST_F(ConfigTest, BadEnvValueNamesVariable) {
  env_["LLM_BACKEND"] = "cloud";
  std::string e = Error();
  EXPECT_NE(e.find("environment variable LLM_BACKEND: [llm] backend = \"cloud\" is invalid"),
            std::string::npos)
      << e;
}

TEST_F(ConfigTest, UnknownFlagKey) {
  ConfigOverrides o;
  o.settings = {{"llm.nope", "1"}};
  EXPECT_NE(Error(o).find("unknown key 'llm.nope'"), std::string::npos);
}

TEST_F(ConfigTest, MissingExplicitConfigFile) {
  ConfigOverrides o;
  o.config_file = home_ / "missing.toml";
  EXPECT_NE(Error(o).find("no such file (given with --config)"), std::string::npos);
}

TEST_F(ConfigTest, McpServersInDesktopShape) {
  Write("mcp.json", R"({"mcpServers": {
      "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
                "env": {"A": "1"}},
      "remote": {"url": "http://127.0.0.1:9000/mcp", "headers": {"Authorization": "Bearer x"}}}})");
  auto c = Load();
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(c->mcp_servers.size(), 2u);
  EXPECT_EQ(c->mcp_servers[0].name, "files");
  EXPECT_EQ(c->mcp_servers[0].args.size(), 3u);
  EXPECT_EQ(c->mcp_servers[0].env.at("A"), "1");
  EXPECT_TRUE(c->mcp_servers[1].is_http());
  EXPECT_NE(RenderConfig(*c).find("remote: http://127.0.0.1:9000/mcp"), std::string::npos);
}

TEST_F(ConfigTest, McpServerErrorsNameTheServer) {
  Write("mcp.json", R"({"mcpServers": {"bad": {"args": []}}})");
  EXPECT_NE(Error().find("mcpServers.bad: needs exactly one of \"command\""), std::string::npos);
  Write("mcp.json", R"({"mcpServers": {"bad": {"command": "x", "argz": []}}})");
  EXPECT_NE(Error().find("mcpServers.bad: unknown key 'argz'"), std::string::npos);
  Write("mcp.json", R"({"mcpServers": {"bad": {"command": "x", "env": {"A": 1}}}})");
  EXPECT_NE(Error().find("mcpServers.bad.env.A must be a string"), std::string::npos);
  Write("mcp.json", "{nope");
  EXPECT_NE(Error().find("invalid JSON"), std::string::npos);
  Write("mcp.json", R"({"mcpServers": {"deep": {"command": "x", "args": )" +
                        std::string(200000, '[') + std::string(200000, ']') + "}}}");
  EXPECT_NE(Error().find("mcp.json: JSON nests deeper than 256 levels"), std::string::npos)
      << Error();
}

TEST_F(ConfigTest, RenderShowsOrigins) {
  env_["LLM_MODEL"] = "mistral-small";
  auto c = Load();
  ASSERT_TRUE(c);
  std::string shown = RenderConfig(*c);
  EXPECT_NE(shown.find("model = \"mistral-small\""), std::string::npos) << shown;
  EXPECT_NE(shown.find("# env LLM_MODEL"), std::string::npos) << shown;
  EXPECT_NE(shown.find("[sandbox]"), std::string::npos);
}

}  // namespace
}  // namespace naut
