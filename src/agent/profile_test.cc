// Environment profiles: the example files (which are also the built-in profiles) and every way
// a profile file can be wrong.

#include "agent/profile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/files.h"
#include "envs/registry.h"

namespace naut::agent {
namespace {

namespace fs = std::filesystem;

const fs::path kExamples = fs::path(NAUT_SOURCE_DIR) / "examples" / "profiles";

EnvProfile MustLoad(const std::string& name_or_path) {
  auto p = LoadProfile(name_or_path);
  EXPECT_TRUE(p) << p.error().ToString();
  return p ? *p : EnvProfile{};
}

TEST(ProfileTest, BuiltinRpgProfilePlaysTheGameChatUnderTheGamePrefix) {
  EnvProfile p = MustLoad("rpg");
  EXPECT_EQ(p.name, "rpg");
  EXPECT_EQ(p.servers, std::vector<std::string>{"rpg"});
  EXPECT_EQ(p.tool_prefix, "game");
  EXPECT_EQ(p.chat, "@dungeon_quest_bot");
  EXPECT_NE(p.description.find("The chat to play in: @dungeon_quest_bot."), std::string::npos);

  ASSERT_EQ(p.observation.size(), 2u);
  EXPECT_EQ(p.observation[0].tool, "game__get_messages");
  EXPECT_EQ(p.observation[0].arguments,
            (Json{{"chat_id", "@dungeon_quest_bot"}, {"page_size", 2}}));
  EXPECT_EQ(p.observation[0].omit,
            (std::vector<std::string>{"date", "edit_date", "has_inline_buttons", "out"}));
  EXPECT_EQ(p.observation[1].tool, "game__list_inline_buttons");
  EXPECT_EQ(p.observation[1].arguments, (Json{{"chat_id", "@dungeon_quest_bot"}}));
  EXPECT_EQ(p.observe_tool, kObservationTool);

  EXPECT_TRUE(p.ToolAllowed("game__press_inline_button"));
  EXPECT_TRUE(p.ToolAllowed("game__send_message"));
  EXPECT_FALSE(p.ToolAllowed("game__check_goal")) << "ground truth is kept from the actor";
  EXPECT_FALSE(p.ToolAllowed("game__reset"));
  EXPECT_FALSE(p.ToolAllowed("rpg__press_inline_button"))
      << "the model never sees the server's own name";

  EXPECT_EQ(p.checker_kind, CheckerKind::kTool);
  EXPECT_EQ(p.checker_tool, "game__check_goal");
  EXPECT_EQ(p.checker_argument, "goal_id");
  EXPECT_EQ(p.checker_success, "/achieved");
  EXPECT_EQ(p.reset_tool, "game__reset");
  EXPECT_EQ(p.milestones_resource, "rpg://milestones");
  EXPECT_TRUE(p.milestones.empty());

  EXPECT_EQ(p.RealToolName("game__press_inline_button"), "rpg__press_inline_button");
  EXPECT_EQ(p.VisibleToolName("rpg__check_goal"), "game__check_goal");
  EXPECT_EQ(p.VisibleToolName("fs__read_file"), std::nullopt);
  EXPECT_EQ(p.RealToolName("rpg__press_inline_button"), std::nullopt);
  EXPECT_EQ(p.RealToolName("observe"), std::nullopt);
}

// The built-in profiles are the example files compiled in: what a user reads is what runs.
TEST(ProfileTest, BuiltinProfilesAreTheExampleFiles) {
  EXPECT_EQ(BuiltinProfileNames(), (std::vector<std::string>{"rpg", "pkg"}));
  for (const auto& name : BuiltinProfileNames()) {
    EnvProfile builtin = MustLoad(name);
    EnvProfile file = MustLoad((kExamples / (name + ".toml")).string());
    EXPECT_EQ(builtin.name, file.name);
    EXPECT_EQ(builtin.description, file.description);
    EXPECT_EQ(builtin.servers, file.servers);
    EXPECT_EQ(builtin.allow, file.allow);
    EXPECT_EQ(builtin.deny, file.deny);
    EXPECT_EQ(builtin.checker_tool, file.checker_tool);
    EXPECT_EQ(builtin.milestones.size(), file.milestones.size());
    EXPECT_EQ(builtin.source, "built-in " + name + " (examples/profiles/" + name + ".toml)");
  }
}

// Every file in examples/profiles/ loads: profiles as profiles, *.mcp.json as mcp.json, and
// every server a profile plays on is built in or declared in one of the example mcp.json files.
TEST(ProfileTest, EveryExampleFileLoads) {
  std::set<std::string> declared;
  std::vector<EnvProfile> profiles;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    std::string path = entry.path().string();
    SCOPED_TRACE(path);
    ++files;
    if (entry.path().extension() == ".toml") {
      profiles.push_back(MustLoad(path));
    } else if (entry.path().extension() == ".json") {
      auto text = ReadFile(entry.path());
      ASSERT_TRUE(text);
      auto servers = ParseMcpServers(*text, path);
      ASSERT_TRUE(servers) << servers.error().ToString();
      for (const auto& s : *servers) declared.insert(s.name);
    } else {
      ADD_FAILURE() << "unexpected file in examples/profiles";
    }
  }
  EXPECT_GE(files, 4);
  for (const auto& p : profiles) {
    for (const auto& s : p.servers) {
      EXPECT_TRUE(envs::FindBuiltinServer(s).ok() || declared.count(s))
          << p.source << ": server " << s;
    }
  }
}

TEST(ProfileTest, TelegramExampleSharesTheRpgPrefixAndIsJudgedByTheCritic) {
  EnvProfile rpg = MustLoad("rpg");
  EnvProfile tg = MustLoad((kExamples / "telegram.toml").string());
  EXPECT_EQ(tg.servers, std::vector<std::string>{"telegram-mcp"});
  EXPECT_EQ(tg.PrefixFor("telegram-mcp"), "game");
  EXPECT_EQ(tg.RealToolName("game__press_inline_button"), "telegram-mcp__press_inline_button");
  EXPECT_EQ(tg.VisibleToolName("telegram-mcp__send_message"), "game__send_message");
  // The model is offered the same names in both environments.
  EXPECT_EQ(tg.allow, rpg.allow);
  EXPECT_EQ(tg.observation.size(), rpg.observation.size());
  for (size_t i = 0; i < tg.observation.size() && i < rpg.observation.size(); ++i) {
    EXPECT_EQ(tg.observation[i].tool, rpg.observation[i].tool);
    EXPECT_EQ(tg.observation[i].arguments.value("chat_id", ""), "@your_rpg_bot");
  }
  EXPECT_EQ(tg.checker_kind, CheckerKind::kLlm);
  EXPECT_TRUE(tg.checker_tool.empty());
  ASSERT_EQ(tg.milestones.size(), 4u);
  EXPECT_EQ(tg.milestones[0].id, "start_game");
  EXPECT_EQ(tg.milestones[0].title, "Start the game");
  EXPECT_EQ(tg.milestones[0].description, "Send /start to the game bot and get its main menu.");
}

TEST(ProfileTest, PkgProfileKeepsEachServersOwnName) {
  EnvProfile p = MustLoad("pkg");
  EXPECT_EQ(p.servers, (std::vector<std::string>{"fs", "exec"}));
  EXPECT_EQ(p.PrefixFor("fs"), "fs");
  EXPECT_TRUE(p.ToolAllowed("fs__write_file"));
  EXPECT_TRUE(p.ToolAllowed("exec__build_package"))
      << "the actor builds with the checker's tool too";
  EXPECT_FALSE(p.ToolAllowed("rpg__press_inline_button"));
  EXPECT_EQ(p.RealToolName("exec__run"), "exec__run");
  EXPECT_EQ(p.checker_tool, "exec__build_package");
  EXPECT_EQ(p.checker_argument, "path");
  EXPECT_EQ(p.checker_success, "/success");
  ASSERT_EQ(p.milestones.size(), 3u);
  EXPECT_EQ(p.milestones[1].id, "py_stats");
  EXPECT_TRUE(p.observe_tool.empty());
}

TEST(ProfileTest, AMinimalProfileOffersEveryToolOfItsServerAndAsksTheCritic) {
  auto p = ParseProfile("[environment]\nname = \"mini\"\nserver = \"files\"\n", "mini.toml");
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->allow, std::vector<std::string>{"files__*"});
  EXPECT_TRUE(p->ToolAllowed("files__read"));
  EXPECT_FALSE(p->ToolAllowed("other__read"));
  EXPECT_EQ(p->checker_kind, CheckerKind::kLlm);
  EXPECT_TRUE(p->observe_tool.empty());
  EXPECT_EQ(p->source, "mini.toml");

  // A checker tool without kind is a tool checker; a JSON pointer is taken as given.
  auto q = ParseProfile(R"([environment]
name = "q"
server = "s"
[checker]
tool = "verify"
success_field = "/result/ok"
[actions]
allowed_tools = ["*"]
denied_tools = ["verify"]
[[observation.calls]]
resource = "s://state"
)",
                        "q.toml");
  ASSERT_TRUE(q) << q.error().ToString();
  EXPECT_EQ(q->checker_kind, CheckerKind::kTool);
  EXPECT_EQ(q->checker_success, "/result/ok");
  EXPECT_TRUE(q->ToolAllowed("s__anything"));
  EXPECT_FALSE(q->ToolAllowed("s__verify"));
  ASSERT_EQ(q->observation.size(), 1u);
  EXPECT_EQ(q->observation[0].resource, "s://state");
}

struct BadCase {
  const char* name;
  std::string text;  // after the [environment] header lines below unless it has its own
  std::vector<std::string> expected;  // substrings of the error
};

constexpr const char* kEnv = "[environment]\nname = \"t\"\nserver = \"s\"\n";

std::vector<BadCase> BadCases() {
  std::string env = kEnv;
  std::string multi = "[environment]\nname = \"t\"\nservers = [\"a\", \"b\"]\n";
  return {
      {"malformed", "[environment\nname = 1", {"profile bad.toml:1:", "malformed TOML"}},
      {"no environment", "[actions]\nallowed_tools = [\"x\"]\n", {"[environment] is missing"}},
      {"environment not a table",
       "environment = 1\n",
       {"bad.toml:1: environment: expected a table [environment], got an integer"}},
      {"no name", "[environment]\nserver = \"s\"\n", {"bad.toml:1: [environment] name: missing"}},
      {"name with a space",
       "[environment]\nname = \"a b\"\nserver = \"s\"\n",
       {":2: [environment] name", "without spaces"}},
      {"name not a string",
       "[environment]\nname = 3\nserver = \"s\"\n",
       {":2: [environment] name: expected a string, got an integer"}},
      {"no server", "[environment]\nname = \"t\"\n", {"[environment] server: missing", "mcp.json"}},
      {"server and servers",
       env + "servers = [\"x\"]\n",
       {":4: [environment] servers", "not both"}},
      {"empty servers",
       "[environment]\nname = \"t\"\nservers = []\n",
       {"[environment] servers: expected at least one"}},
      {"duplicate servers",
       "[environment]\nname = \"t\"\nservers = [\"a\", \"a\"]\n",
       {"\"a\" is named twice"}},
      {"server with separator",
       "[environment]\nname = \"t\"\nserver = \"a__b\"\n",
       {"[environment] server", "expected an MCP server's name"}},
      {"servers not strings",
       "[environment]\nname = \"t\"\nservers = [1]\n",
       {"[environment] servers: expected an array of strings, found an integer"}},
      {"prefix with several servers",
       multi + "tool_prefix = \"game\"\n",
       {":4: [environment] tool_prefix", "only with a single server"}},
      {"bad prefix",
       env + "tool_prefix = \"ga me\"\n",
       {":4: [environment] tool_prefix", "expected letters"}},
      {"prefix with separator",
       env + "tool_prefix = \"ga__me\"\n",
       {"[environment] tool_prefix", "without \"__\""}},
      {"empty chat", env + "chat = \"\"\n", {"[environment] chat", "expected a chat id"}},
      {"unknown environment key",
       env + "chats = \"x\"\n",
       {":4: [environment] chats: unknown key; expected name, description"}},
      {"unknown table",
       env + "[observe]\ntool = \"x\"\n",
       {":4: observe: unknown key; expected the tables"}},
      {"observation not a table",
       "observation = 1\n" + env,
       {":1: observation: expected a table [observation], got an integer"}},
      {"unknown observation key",
       env + "[observation]\ncall = 1\n",
       {":5: [observation] call: unknown key"}},
      {"calls not tables",
       env + "[observation]\ncalls = 3\n",
       {"observation.calls: expected [[observation.calls]] tables, got an integer"}},
      {"calls not tables inside",
       env + "[observation]\ncalls = [3]\n",
       {"observation.calls: expected [[observation.calls]] tables, found an integer"}},
      {"call with tool and resource",
       env + "[[observation.calls]]\ntool = \"a\"\nresource = \"s://x\"\n",
       {":4: [[observation.calls]]: expected exactly one of tool"}},
      {"call with neither",
       env + "[[observation.calls]]\narguments = { a = 1 }\n",
       {"expected exactly one of tool"}},
      {"call arguments not a table",
       env + "[[observation.calls]]\ntool = \"a\"\narguments = 3\n",
       {":6: [[observation.calls]] arguments: expected a table"}},
      {"chat placeholder without chat",
       env + "[[observation.calls]]\ntool = \"a\"\narguments = { chat_id = \"{chat}\" }\n",
       {"[[observation.calls]] arguments", "[environment] chat is not set"}},
      {"unknown call key",
       env + "[[observation.calls]]\ntool = \"a\"\nargs = {}\n",
       {":6: [[observation.calls]] args: unknown key; expected tool, arguments and omit, or "
        "resource"}},
      {"other_chats not a list of strings",
       "[environment]\nname = \"x\"\nother_chats = 1\n",
       {":3: [environment] other_chats: expected"}},
      {"omit not a list of strings",
       env + "[[observation.calls]]\ntool = \"a\"\nomit = \"date\"\n",
       {":6: [[observation.calls]] omit: expected"}},
      {"prefixed tool",
       env + "[[observation.calls]]\ntool = \"rpg__get_messages\"\n",
       {"[[observation.calls]] tool", "expected the server's own tool name (e.g. \"get_messages\")",
        "s__<tool>"}},
      {"pattern as a tool",
       env + "[[observation.calls]]\ntool = \"get_*\"\n",
       {"[[observation.calls]] tool", "not a pattern"}},
      {"empty tool",
       env + "[[observation.calls]]\ntool = \"\"\n",
       {"[[observation.calls]] tool: expected a tool name"}},
      {"resource not a uri",
       env + "[[observation.calls]]\nresource = \"state\"\n",
       {"[[observation.calls]] resource", "expected a resource URI"}},
      {"resource with arguments",
       env + "[[observation.calls]]\nresource = \"s://x\"\narguments = {}\n",
       {"[[observation.calls]] arguments: only with tool"}},
      {"bare tool with several servers",
       multi + "[[observation.calls]]\ntool = \"look\"\n",
       {"expected <server>__<tool> naming one of this environment's servers (a, b)"}},
      {"unknown server in a tool",
       multi + "[actions]\nallowed_tools = [\"c__look\"]\n",
       {"[actions] allowed_tools", "\"c__look\""}},
      {"unknown actions key",
       env + "[actions]\nallow = [\"x\"]\n",
       {":5: [actions] allow: unknown key; expected allowed_tools or denied_tools"}},
      {"allowed_tools not an array",
       env + "[actions]\nallowed_tools = \"x\"\n",
       {"[actions] allowed_tools: expected an array of strings, got a string"}},
      {"allowed_tools with a number",
       env + "[actions]\nallowed_tools = [\"x\", 2]\n",
       {"[actions] allowed_tools: expected an array of strings, found an integer"}},
      {"empty allowed_tools",
       env + "[actions]\nallowed_tools = []\n",
       {"[actions] allowed_tools: is empty"}},
      {"prefixed allowed tool",
       env + "[actions]\nallowed_tools = [\"game__press\"]\n",
       {"[actions] allowed_tools", "without a prefix"}},
      {"checker kind",
       env + "[checker]\nkind = \"tools\"\n",
       {":5: [checker] kind: \"tools\": expected \"tool\""}},
      {"checker kind not a string",
       env + "[checker]\nkind = true\n",
       {"[checker] kind: expected a string, got a boolean"}},
      {"tool checker without tool",
       env + "[checker]\nkind = \"tool\"\n",
       {":5: [checker] tool: missing; kind = \"tool\" needs tool"}},
      {"llm checker with tool",
       env + "[checker]\nkind = \"llm\"\ntool = \"check\"\n",
       {":6: [checker]: tool, argument and success_field are read only with kind = \"tool\""}},
      {"llm checker with argument",
       env + "[checker]\nargument = \"id\"\n",
       {"read only with kind = \"tool\""}},
      {"unknown checker key",
       env + "[checker]\ntool = \"c\"\nsuccess = \"ok\"\n",
       {":6: [checker] success: unknown key; expected kind, tool, argument, success_field, "
        "reset_tool"}},
      {"empty success field",
       env + "[checker]\ntool = \"c\"\nsuccess_field = \"\"\n",
       {"[checker] success_field: expected a field name"}},
      {"bad success pointer",
       env + "[checker]\ntool = \"c\"\nsuccess_field = \"/a~2\"\n",
       {"[checker] success_field", "not a valid JSON pointer"}},
      {"empty argument",
       env + "[checker]\ntool = \"c\"\nargument = \"\"\n",
       {"[checker] argument: expected the argument's name"}},
      {"reset tool pattern",
       env + "[checker]\nreset_tool = \"re*\"\n",
       {"[checker] reset_tool", "not a pattern"}},
      {"milestones not a table",
       "milestones = [1]\n" + env,
       {":1: milestones: expected a table [milestones], got an array"}},
      {"a table key inside [environment]",
       env + "milestones = [1]\n",
       {":4: [environment] milestones: unknown key"}},
      {"unknown milestones key",
       env + "[milestones]\nfrom = \"x\"\n",
       {":5: [milestones] from: unknown key; expected resource"}},
      {"milestones resource not a uri",
       env + "[milestones]\nresource = \"milestones\"\n",
       {"[milestones] resource", "expected a resource URI"}},
      {"milestones resource and items",
       env +
           "[milestones]\nresource = \"s://m\"\n[[milestones.items]]\nid = \"a\"\ntitle = \"A\"\n",
       {"[milestones]: expected resource or [[milestones.items]], not both"}},
      {"items not tables",
       env + "[milestones]\nitems = [1]\n",
       {"milestones.items: expected [[milestones.items]] tables, found an integer"}},
      {"item without id",
       env + "[[milestones.items]]\ntitle = \"A\"\n",
       {":4: [[milestones.items]] id: missing"}},
      {"item without description",
       env + "[[milestones.items]]\nid = \"a\"\n",
       {"[[milestones.items]] description: missing for \"a\""}},
      {"unknown item key",
       env + "[[milestones.items]]\nid = \"a\"\ngoal = \"x\"\n",
       {":6: [[milestones.items]] goal: unknown key; expected id, title, description"}},
      {"item field not a string",
       env + "[[milestones.items]]\nid = 7\n",
       {"[[milestones.items]] id: expected a string, got an integer"}},
      {"duplicate item",
       env + "[[milestones.items]]\nid = \"a\"\ntitle = \"A\"\n[[milestones.items]]\nid = "
             "\"a\"\ntitle = \"B\"\n",
       {":7: [[milestones.items]] id: \"a\" is used twice"}},
  };
}

TEST(ProfileTest, EveryErrorNamesTheFileTheKeyAndWhatWasExpected) {
  for (const auto& c : BadCases()) {
    SCOPED_TRACE(c.name);
    auto p = ParseProfile(c.text, "bad.toml");
    ASSERT_FALSE(p) << "parsed:\n" << c.text;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
    std::string msg = p.error().message();
    EXPECT_EQ(msg.rfind("profile bad.toml", 0), 0u) << msg;
    for (const auto& want : c.expected)
      EXPECT_NE(msg.find(want), std::string::npos) << msg << "\nwanted: " << want;
  }
}

TEST(ProfileTest, LoadProfileSaysWhatAnEnvironmentNameCanBe) {
  auto missing = LoadProfile("no-such-env");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_NE(
      missing.error().message().find("neither a built-in profile (rpg, pkg) nor a profile file"),
      std::string::npos);
  auto dir = LoadProfile(kExamples.string());
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message().find("is a directory"), std::string::npos);
}

TEST(ProfileTest, ParsesMilestoneResources) {
  auto m = ParseMilestones(
      R"({"milestones": [{"id": "a", "title": "A", "description": "Do a"}, {"id": "b", "title": "B"}, {"id": "c"}]})",
      "rpg://milestones");
  ASSERT_TRUE(m) << m.error().ToString();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].description, "Do a");
  EXPECT_EQ((*m)[0].title, "A");
  EXPECT_EQ((*m)[1].description, "B");
  EXPECT_EQ((*m)[2].description, "c");
  EXPECT_FALSE(ParseMilestones("{\"x\": 1}", "m"));
  EXPECT_FALSE(ParseMilestones("[1]", "m"));
  auto no_id = ParseMilestones("[{\"title\": \"A\"}]", "m");
  ASSERT_FALSE(no_id);
  EXPECT_NE(no_id.error().message().find("id"), std::string::npos);
}

}  // namespace
}  // namespace naut::agent
