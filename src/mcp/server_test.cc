#include "mcp/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace naut::mcp {
namespace {

ServerDefinition Definition() {
  ServerDefinition d;
  d.name = "test";
  for (int i = 0; i < 5; ++i) {
    Tool t;
    t.name = "tool" + std::to_string(i);
    t.description = "tool number " + std::to_string(i);
    t.input_schema =
        Json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})");
    t.handler = [](const Json& args, ToolContext& ctx) {
      ctx.progress(1, 2, "half");
      return ToolResult::Text("n=" + std::to_string(args["n"].get<int>()));
    };
    d.tools.push_back(t);
  }
  d.resources.push_back(
      {"mem://a", "a", "", "text/plain", [] {
         return Result<ResourceContents>(ResourceContents{"mem://a", "text/plain", "A", {}});
       }});
  d.resource_templates.push_back(
      {"mem://item/{id}", "item", "", "text/plain",
       [](const std::string& uri, const std::map<std::string, std::string>& vars) {
         return Result<ResourceContents>(
             ResourceContents{uri, "text/plain", "item " + vars.at("id"), {}});
       }});
  return d;
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : server_(Definition(), ServerOptions{.page_size = 2}) {
    session_ = server_.CreateSession([](const Json&) {});
  }

  std::vector<Json> Send(const std::string& method, Json params, int id = 1) {
    std::vector<Json> out;
    Message m;
    m.kind = Message::Kind::kRequest;
    m.id = id;
    m.method = method;
    m.params = std::move(params);
    session_->HandleMessage(m, [&](const Json& j) { out.push_back(j); });
    return out;
  }

  Server server_;
  std::shared_ptr<ServerSession> session_;
};

TEST_F(ServerTest, InitializeNegotiatesVersion) {
  auto out =
      Send("initialize", Json{{"protocolVersion", "2025-03-26"}, {"capabilities", Json::object()}});
  EXPECT_EQ(out.back()["result"]["protocolVersion"], "2025-03-26");
  out = Send("initialize",
             Json{{"protocolVersion", "1999-01-01"}, {"capabilities", Json::object()}}, 2);
  EXPECT_EQ(out.back()["result"]["protocolVersion"], "2025-11-25");
  EXPECT_TRUE(out.back()["result"]["capabilities"].contains("tools"));
}

TEST_F(ServerTest, ToolsListIsPaginated) {
  std::vector<std::string> names;
  Json params = Json::object();
  for (int page = 0; page < 10; ++page) {
    auto out = Send("tools/list", params, page + 1);
    const Json& r = out.back()["result"];
    for (const auto& t : r["tools"]) names.push_back(t["name"]);
    if (!r.contains("nextCursor")) break;
    params = Json{{"cursor", r["nextCursor"]}};
  }
  EXPECT_EQ(names.size(), 5u);
  auto bad = Send("tools/list", Json{{"cursor", "zz"}});
  EXPECT_EQ(bad.back()["error"]["code"], kInvalidParams);
}

TEST_F(ServerTest, CallValidatesArgumentsAndReportsProgress) {
  auto out = Send("tools/call", Json{{"name", "tool1"}, {"arguments", {{"n", "x"}}}});
  EXPECT_EQ(out.back()["result"]["isError"], true);
  EXPECT_NE(out.back()["result"]["content"][0]["text"].get<std::string>().find("arguments.n"),
            std::string::npos);
  out =
      Send("tools/call",
           Json{{"name", "tool1"}, {"arguments", {{"n", 4}}}, {"_meta", {{"progressToken", "t"}}}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["method"], "notifications/progress");
  EXPECT_EQ(out[0]["params"]["progressToken"], "t");
  EXPECT_EQ(out[1]["result"]["content"][0]["text"], "n=4");
  out = Send("tools/call", Json{{"name", "nope"}});
  EXPECT_EQ(out.back()["error"]["code"], kInvalidParams);
}

TEST_F(ServerTest, ResourcesStaticTemplatesAndMissing) {
  auto out = Send("resources/read", Json{{"uri", "mem://a"}});
  EXPECT_EQ(out.back()["result"]["contents"][0]["text"], "A");
  out = Send("resources/read", Json{{"uri", "mem://item/42"}});
  EXPECT_EQ(out.back()["result"]["contents"][0]["text"], "item 42");
  out = Send("resources/read", Json{{"uri", "mem://zzz"}});
  EXPECT_EQ(out.back()["error"]["code"], kResourceNotFound);
}

TEST_F(ServerTest, UnknownMethodAndBadLevel) {
  EXPECT_EQ(Send("bogus/method", Json::object()).back()["error"]["code"], kMethodNotFound);
  EXPECT_EQ(Send("logging/setLevel", Json{{"level", "loud"}}).back()["error"]["code"],
            kInvalidParams);
  EXPECT_EQ(Send("tools/call", Json::array()).back()["error"]["code"], kInvalidParams);
}

// A session of `server` whose standalone messages are collected.
struct Listener {
  Mutex mu;
  std::vector<Json> standalone GUARDED_BY(mu);
  std::shared_ptr<ServerSession> session;

  Listener(Server& server, bool send_initialized) {
    session = server.CreateSession([this](const Json& j) {
      MutexLock lock(mu);
      standalone.push_back(j);
    });
    Message init;
    init.kind = Message::Kind::kRequest;
    init.id = 1;
    init.method = "initialize";
    init.params = Json{{"protocolVersion", "2025-11-25"}, {"capabilities", Json::object()}};
    session->HandleMessage(init, [](const Json&) {});
    if (send_initialized) {
      Message done;
      done.method = "notifications/initialized";
      session->HandleMessage(done, [](const Json&) {});
    }
  }
  std::vector<std::string> Methods() {
    MutexLock lock(mu);
    std::vector<std::string> out;
    for (const auto& j : standalone) out.push_back(j.value("method", ""));
    return out;
  }
};

Tool NamedTool(const std::string& name) {
  Tool t;
  t.name = name;
  t.handler = [name](const Json&, ToolContext&) { return ToolResult::Text("I am " + name); };
  return t;
}

TEST_F(ServerTest, ToolChangesReachInitializedSessionsAndLaterRequests) {
  Listener ready(server_, true);
  Listener handshaking(server_, false);  // initialize answered, initialized not yet sent
  server_.AddTool(NamedTool("late"));
  EXPECT_EQ(ready.Methods(), std::vector<std::string>{"notifications/tools/list_changed"});
  EXPECT_TRUE(handshaking.Methods().empty());

  auto out = Send("tools/call", Json{{"name", "late"}});
  EXPECT_EQ(out.back()["result"]["content"][0]["text"], "I am late");
  EXPECT_TRUE(server_.RemoveTool("late"));
  EXPECT_FALSE(server_.RemoveTool("late"));  // nothing removed: nothing sent
  EXPECT_EQ(ready.Methods().size(), 2u);
  out = Send("tools/call", Json{{"name", "late"}});
  EXPECT_EQ(out.back()["error"]["code"], kInvalidParams);

  server_.SetTools({NamedTool("only")});
  out = Send("tools/list", Json::object());
  ASSERT_EQ(out.back()["result"]["tools"].size(), 1u);
  EXPECT_EQ(out.back()["result"]["tools"][0]["name"], "only");
  server_.SetResources({}, {});
  EXPECT_EQ(ready.Methods().back(), "notifications/resources/list_changed");
  EXPECT_EQ(Send("resources/read", Json{{"uri", "mem://a"}}).back()["error"]["code"],
            kResourceNotFound);

  // A closed session hears nothing more.
  ready.session->Close();
  server_.AddTool(NamedTool("after"));
  EXPECT_EQ(ready.Methods().size(), 4u);
}

TEST(ServerListChangeTest, OnlyListsDeclaredInInitializeAreAnnounced) {
  ServerDefinition d;
  d.name = "dynamic";
  d.dynamic_tools = true;  // empty, but declared because it may change
  Server server(d);
  Listener l(server, true);
  server.SetPrompts({Prompt{.name = "p"}});  // prompts were not declared to this session
  EXPECT_TRUE(l.Methods().empty());
  server.AddTool(NamedTool("first"));
  EXPECT_EQ(l.Methods(), std::vector<std::string>{"notifications/tools/list_changed"});
  Listener later(server, true);
  server.SetPrompts({});  // declared to `later`, whose initialize saw a prompt
  EXPECT_EQ(later.Methods(), std::vector<std::string>{"notifications/prompts/list_changed"});
  EXPECT_EQ(l.Methods().size(), 1u);
}

TEST(ServerListChangeTest, WatchThreadRunsForTheServersLifeAndMayChangeTools) {
  std::atomic<bool> stopped{false};
  ServerDefinition d;
  d.name = "watched";
  d.dynamic_tools = true;
  d.watch = [&stopped](Server& server, std::stop_token stop) {
    server.AddTool(NamedTool("from_watcher"));
    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stopped = true;
  };
  {
    Server server(d);
    for (int i = 0; i < 400 && server.definition()->tools.empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(server.definition()->tools.size(), 1u);
    EXPECT_EQ(server.definition()->tools[0].name, "from_watcher");
    EXPECT_FALSE(stopped);
  }
  EXPECT_TRUE(stopped);  // the destructor stopped and joined it
}

TEST(ServerCancelTest, CancelledNotificationStopsTheHandlerAndNoResponseIsSent) {
  std::atomic<bool> started{false}, saw_cancel{false};
  ServerDefinition d;
  d.name = "cancel";
  Tool wait;
  wait.name = "wait";
  wait.handler = [&](const Json&, ToolContext& ctx) {
    started = true;
    for (int i = 0; i < 1000 && !ctx.cancel.stop_requested(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    saw_cancel = ctx.cancel.stop_requested();
    return ToolResult::Text("finished");
  };
  d.tools.push_back(wait);
  Server server(d);
  auto session = server.CreateSession([](const Json&) {});
  std::vector<Json> replies;
  std::thread call([&] {
    Message m;
    m.kind = Message::Kind::kRequest;
    m.id = "call-1";
    m.method = "tools/call";
    m.params = Json{{"name", "wait"}};
    session->HandleMessage(m, [&](const Json& j) { replies.push_back(j); });
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Message cancel;
  cancel.method = "notifications/cancelled";
  cancel.params = Json{{"requestId", "call-1"}, {"reason", "user stopped it"}};
  session->HandleMessage(cancel, [](const Json&) {});
  call.join();
  EXPECT_TRUE(saw_cancel);
  EXPECT_TRUE(replies.empty()) << Json(replies).dump();
}

TEST(UriTemplateTest, Matches) {
  std::map<std::string, std::string> vars;
  EXPECT_TRUE(MatchUriTemplate("a://x/{id}/y", "a://x/7/y", &vars));
  EXPECT_EQ(vars["id"], "7");
  EXPECT_FALSE(MatchUriTemplate("a://x/{id}/y", "a://x//y", &vars));
  EXPECT_FALSE(MatchUriTemplate("a://x/{id}", "b://x/1", &vars));
}

}  // namespace
}  // namespace naut::mcp
