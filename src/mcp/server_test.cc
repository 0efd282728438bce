#include "mcp/server.h"

#include <gtest/gtest.h>

namespace naut::mcp {
namespace {

ServerDefinition Definition() {
  ServerDefinition d;
  d.name = "test";
  for (int i = 0; i < 5; ++i) {
    Tool t;
    t.name = "tool" + std::to_string(i);
    t.description = "tool number " + std::to_string(i);
    t.input_schema = Json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})");
    t.handler = [](const Json& args, ToolContext& ctx) {
      ctx.progress(1, 2, "half");
      return ToolResult::Text("n=" + std::to_string(args["n"].get<int>()));
    };
    d.tools.push_back(t);
  }
  d.resources.push_back({"mem://a", "a", "", "text/plain", [] { return Result<ResourceContents>(ResourceContents{"mem://a", "text/plain", "A", {}}); }});
  d.resource_templates.push_back({"mem://item/{id}", "item", "", "text/plain",
                                  [](const std::string& uri, const std::map<std::string, std::string>& vars) {
                                    return Result<ResourceContents>(ResourceContents{uri, "text/plain", "item " + vars.at("id"), {}});
                                  }});
  return d;
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : server_(Definition(), ServerOptions{.page_size = 2}) { session_ = server_.CreateSession([](const Json&) {}); }

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
  auto out = Send("initialize", Json{{"protocolVersion", "2025-03-26"}, {"capabilities", Json::object()}});
  EXPECT_EQ(out.back()["result"]["protocolVersion"], "2025-03-26");
  out = Send("initialize", Json{{"protocolVersion", "1999-01-01"}, {"capabilities", Json::object()}}, 2);
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
  EXPECT_NE(out.back()["result"]["content"][0]["text"].get<std::string>().find("arguments.n"), std::string::npos);
  out = Send("tools/call", Json{{"name", "tool1"}, {"arguments", {{"n", 4}}}, {"_meta", {{"progressToken", "t"}}}});
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
  EXPECT_EQ(Send("logging/setLevel", Json{{"level", "loud"}}).back()["error"]["code"], kInvalidParams);
  EXPECT_EQ(Send("tools/call", Json::array()).back()["error"]["code"], kInvalidParams);
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
