#include "mcp/jsonrpc.h"

#include <gtest/gtest.h>

namespace naut::mcp {
namespace {

int ErrorCode(const Json& reply) { return reply.at("error").at("code").get<int>(); }

TEST(JsonRpcTest, DecodesRequestNotificationAndResponse) {
  auto d = Decode(R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}})", false);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_TRUE(d.messages[0].is_request());
  EXPECT_EQ(d.messages[0].id, 7);
  d = Decode(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", false);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_TRUE(d.messages[0].is_notification());
  d = Decode(R"({"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"nope"}})", false);
  ASSERT_EQ(d.messages.size(), 1u);
  ASSERT_TRUE(d.messages[0].error.has_value());
  EXPECT_EQ(d.messages[0].error->code, kMethodNotFound);
}

TEST(JsonRpcTest, MalformedInputGetsTheRightError) {
  auto d = Decode(R"({"jsonrpc":"2.0","id":1,"method":)", false);
  ASSERT_EQ(d.error_replies.size(), 1u);
  EXPECT_EQ(ErrorCode(d.error_replies[0]), kParseError);
  EXPECT_TRUE(d.error_replies[0]["id"].is_null());

  d = Decode(R"({"jsonrpc":"1.0","id":3,"method":"ping"})", false);
  ASSERT_EQ(d.error_replies.size(), 1u);
  EXPECT_EQ(ErrorCode(d.error_replies[0]), kInvalidRequest);
  EXPECT_EQ(d.error_replies[0]["id"], 3);

  d = Decode(R"({"jsonrpc":"2.0","id":{"x":1},"method":"ping"})", false);
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kInvalidRequest);
  d = Decode(R"({"jsonrpc":"2.0","id":4,"method":42})", false);
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kInvalidRequest);
  d = Decode(R"({"jsonrpc":"2.0","id":4,"method":"x","params":"s"})", false);
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kInvalidRequest);
  d = Decode("\"just a string\"", false);
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kInvalidRequest);
  d = Decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", false);
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kParseError);
}

TEST(JsonRpcTest, BatchesOnlyWhenAllowed) {
  std::string batch = R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"},5])";
  auto d = Decode(batch, false);
  EXPECT_TRUE(d.messages.empty());
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kInvalidRequest);
  d = Decode(batch, true);
  EXPECT_TRUE(d.batch);
  EXPECT_EQ(d.messages.size(), 2u);
  ASSERT_EQ(d.error_replies.size(), 1u);
  d = Decode("[]", true);
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kInvalidRequest);
}

TEST(JsonRpcTest, OversizedMessageIsRefusedBeforeParsing) {
  std::string big(kMaxMessageBytes + 1, ' ');
  auto d = Decode(big, false);
  ASSERT_EQ(d.error_replies.size(), 1u);
  EXPECT_NE(d.error_replies[0]["error"]["message"].get<std::string>().find("exceeds"), std::string::npos);
}

TEST(JsonRpcTest, IdKeysKeepStringAndNumberApart) { EXPECT_NE(IdKey(Json(1)), IdKey(Json("1"))); }

}  // namespace
}  // namespace naut::mcp
