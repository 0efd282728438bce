#include "mcp/hub.h"

#include <gtest/gtest.h>

#include "mcp/http_server.h"

namespace naut::mcp {
namespace {

using namespace std::chrono_literals;

TEST(HubTest, SplitsQualifiedToolNames) {
  auto ok = ClientManager::SplitToolName("files__read_text_file");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "files");
  EXPECT_EQ(ok->second, "read_text_file");
  auto nested = ClientManager::SplitToolName("a__b__c");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->second, "b__c");
  EXPECT_FALSE(ClientManager::SplitToolName("plain"));
  EXPECT_FALSE(ClientManager::SplitToolName("__tool"));
  EXPECT_FALSE(ClientManager::SplitToolName("server__"));
}

TEST(HubTest, UnknownAndMisnamedServersAreReportedNotThrown) {
  McpServerConfig bad;
  bad.name = "a__b";
  bad.command = "true";
  McpServerConfig off;
  off.name = "off";
  off.command = "true";
  off.disabled = true;
  ClientManager hub({bad, off}, HubOptions{});
  auto s = hub.Session("ghost");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kNotFound);
  auto misnamed = hub.Session("a__b");
  ASSERT_FALSE(misnamed);
  EXPECT_NE(misnamed.error().message().find("must not contain"), std::string::npos);
  auto disabled = hub.Session("off");
  ASSERT_FALSE(disabled);
  EXPECT_NE(disabled.error().message().find("disabled"), std::string::npos);
  auto statuses = hub.Statuses();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[1].state, ServerState::kDisabled);
}

TEST(HubTest, FailedStartBacksOff) {
  McpServerConfig missing;
  missing.name = "missing";
  missing.command = "/nonexistent/mcp-server";
  HubOptions options;
  options.backoff_initial = 10s;
  ClientManager hub({missing}, options);
  auto first = hub.Session("missing");
  ASSERT_FALSE(first);
  auto second = hub.Session("missing");  // within the backoff: not retried
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("next restart in"), std::string::npos)
      << second.error().ToString();
  EXPECT_EQ(hub.Statuses()[0].state, ServerState::kDown);
}

TEST(ClientHelpersTest, ElicitationDefaultsFillOnlyMissingFields) {
  Json schema = Json::parse(R"({"type":"object","properties":{
    "name":{"type":"string","default":"John"},"age":{"type":"integer","default":30},"x":{"type":"string"}}})");
  Json out = ApplyElicitationDefaults(schema, Json{{"name", "Jane"}});
  EXPECT_EQ(out, Json::parse(R"({"name":"Jane","age":30})"));
}

TEST(ClientHelpersTest, ParsesHostPort) {
  auto hp = ParseHostPort("127.0.0.1:8931");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->first, "127.0.0.1");
  EXPECT_EQ(hp->second, 8931);
  EXPECT_EQ(ParseHostPort(":0")->first, "127.0.0.1");
  EXPECT_FALSE(ParseHostPort("localhost"));
  EXPECT_FALSE(ParseHostPort("localhost:http"));
  EXPECT_FALSE(ParseHostPort("localhost:70000"));
}

TEST(ClientHelpersTest, ParsesToolResults) {
  auto r = ParseToolResult(Json::parse(
      R"({"content":[{"type":"text","text":"a"}],"isError":true,"structuredContent":{"k":1}})"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_error);
  EXPECT_EQ((*r->structured)["k"], 1);
  EXPECT_FALSE(ParseToolResult(Json::parse(R"({"content":[{"text":"no type"}]})")));
  EXPECT_FALSE(ParseToolResult(Json::parse(R"({"content":"x"})")));
}

}  // namespace
}  // namespace naut::mcp
