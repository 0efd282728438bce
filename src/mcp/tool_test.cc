#include "mcp/tool.h"

#include <gtest/gtest.h>

namespace naut::mcp {
namespace {

TEST(ToolResultAsText, JoinsTextBlocksOnePerLine) {
  ToolResult r = ToolResult::Text("first");
  r.content.push_back(Content::Text("second"));
  EXPECT_EQ(r.AsText(), "first\nsecond");
  EXPECT_EQ(ToolResult::Error("no such chat").AsText(), "no such chat");
}

TEST(ToolResultAsText, NamesWhatIsNotText) {
  ToolResult r;
  r.content.push_back({"resource_link", Json{{"type", "resource_link"}, {"uri", "rpg://state"}}});
  r.content.push_back(
      {"resource", Json{{"type", "resource"}, {"resource", {{"uri", "a://b"}, {"text", "body"}}}}});
  r.content.push_back({"resource", Json{{"type", "resource"},
                                        {"resource", {{"uri", "a://bin"}, {"blob", "AAAA"}}}}});
  r.content.push_back({"audio", Json{{"type", "audio"}, {"data", "AAAA"}}});
  EXPECT_EQ(r.AsText(), "[resource rpg://state]\nbody\n[resource content]\n[audio content]");
}

TEST(ToolResultAsText, StructuredContentWhenThereIsNoText) {
  ToolResult r;
  r.structured = Json{{"hp", 3}};
  EXPECT_EQ(r.AsText(), R"({"hp":3})");
  // With text, the text is what is read.
  EXPECT_EQ(ToolResult::Structured(Json{{"hp", 3}}).AsText(), R"({"hp":3})");
  r.content.push_back(Content::Text("3 hp left"));
  EXPECT_EQ(r.AsText(), "3 hp left");
  EXPECT_EQ(ToolResult{}.AsText(), "");
}

}  // namespace
}  // namespace naut::mcp
