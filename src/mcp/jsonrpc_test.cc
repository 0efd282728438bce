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
  std::string batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"},5])";
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
  EXPECT_EQ(ErrorCode(d.error_replies[0]), kParseError);
  EXPECT_TRUE(d.error_replies[0]["id"].is_null());
  EXPECT_NE(d.error_replies[0]["error"]["message"].get<std::string>().find("exceed the limit"),
            std::string::npos);
}

TEST(JsonRpcTest, DeeplyNestedMessageIsAParseErrorNotACrash) {
  const int depth = 200000;
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"a":)" +
                     std::string(depth, '[') + std::string(depth, ']') + "}}";
  for (bool batch : {false, true}) {
    auto d = Decode(deep, batch);
    EXPECT_TRUE(d.messages.empty());
    ASSERT_EQ(d.error_replies.size(), 1u);
    EXPECT_EQ(ErrorCode(d.error_replies[0]), kParseError);
    EXPECT_TRUE(d.error_replies[0]["id"].is_null());
    EXPECT_NE(d.error_replies[0]["error"]["message"].get<std::string>().find(
                  "nests deeper than 256 levels"),
              std::string::npos);
  }
  // A batch of deep messages is refused as a whole.
  auto d = Decode("[" + deep + "]", true);
  EXPECT_TRUE(d.messages.empty());
  EXPECT_EQ(ErrorCode(d.error_replies.at(0)), kParseError);
}

TEST(JsonRpcTest, RefusedMessagesAreAnsweredByTheirId) {
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  Status why = ResourceExhausted("message from mcp server 's': JSON nests deeper than 256 levels");
  // A response: the client gets an error for the request it answers.
  Refusal r = RefuseMessage(R"({"jsonrpc":"2.0","id":5,"result":)" + deep + "}", why);
  ASSERT_TRUE(r.to_client.is_object());
  EXPECT_EQ(r.to_client["id"], 5);
  EXPECT_EQ(ErrorCode(r.to_client), kParseError);
  EXPECT_NE(r.to_client["error"]["message"].get<std::string>().find("mcp server 's'"),
            std::string::npos);
  EXPECT_TRUE(r.to_server.is_null());
  // The id after the deep part, or in a cut head, is found as well; none at all gives null.
  EXPECT_EQ(RefuseMessage(R"({"result":)" + deep + R"(,"id":"x"})", why).to_client["id"], "x");
  EXPECT_EQ(RefuseMessage(R"({"id":9,"result":[[[)", why).to_client["id"], 9);
  Refusal unknown = RefuseMessage(R"({"result":[[[)", why);
  ASSERT_TRUE(unknown.to_client.is_object());
  EXPECT_TRUE(unknown.to_client["id"].is_null());
  // A request of the server's: answered to the server.
  Refusal request =
      RefuseMessage(R"({"id":3,"method":"sampling/createMessage","params":)" + deep + "}", why);
  EXPECT_TRUE(request.to_client.is_null());
  EXPECT_EQ(request.to_server["id"], 3);
  EXPECT_EQ(ErrorCode(request.to_server), kParseError);
  // A notification: nobody waits for it.
  Refusal note = RefuseMessage(R"({"method":"notifications/message","params":)" + deep + "}", why);
  EXPECT_TRUE(note.to_client.is_null());
  EXPECT_TRUE(note.to_server.is_null());
}

TEST(JsonRpcTest, IdKeysKeepStringAndNumberApart) { EXPECT_NE(IdKey(Json(1)), IdKey(Json("1"))); }

}  // namespace
}  // namespace naut::mcp
