#pragma once
// What a tool server offers, as plain values: tools, resources and their results. The MCP
// server framework (mcp/server.h) serves these over stdio or HTTP; built-in servers (rpg, fs,
// exec, skills) are written as a list of these and can be unit-tested without a transport.
//
// Handlers may be called from a worker thread of the server; a handler must be safe to call
// concurrently with other handlers of the same server unless the server serialises them
// (the framework runs one call at a time per server by default).

#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::mcp {

// One content block of a tool result (MCP "content" array entry).
struct Content {
  std::string type = "text";  // text | image | audio | resource_link | resource
  Json data;                  // the whole block as MCP spells it, including "type"

  static Content Text(std::string text) {
    return {"text", Json{{"type", "text"}, {"text", std::move(text)}}};
  }
};

// The result of tools/call. `is_error` results are answers the model should read (bad
// arguments, a refused path, a game's "you can't do that"), not protocol errors.
struct ToolResult {
  std::vector<Content> content;
  std::optional<Json> structured;  // structuredContent, when the tool has an outputSchema
  bool is_error = false;

  static ToolResult Text(std::string text) { return {{Content::Text(std::move(text))}, std::nullopt, false}; }
  static ToolResult Error(std::string text) { return {{Content::Text(std::move(text))}, std::nullopt, true}; }
  static ToolResult Structured(Json value) {
    return {{Content::Text(DumpJson(value))}, std::move(value), false};
  }
};

// What a running call may use: cancellation and progress reporting.
struct ToolContext {
  std::stop_token cancel;
  // progress(done, total_or_negative, message); a no-op when the caller asked for none.
  std::function<void(double, double, const std::string&)> progress = [](double, double, const std::string&) {};
};

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  Json input_schema = Json{{"type", "object"}};  // JSON Schema; arguments are validated against it
  std::optional<Json> output_schema;
  Json annotations = Json::object();  // readOnlyHint, destructiveHint, idempotentHint, ...
  std::function<ToolResult(const Json& arguments, ToolContext& context)> handler;
};

struct ResourceContents {
  std::string uri;
  std::string mime_type = "text/plain";
  std::string text;
};

struct Resource {
  std::string uri;  // e.g. "rpg://state"
  std::string name;
  std::string description;
  std::string mime_type = "text/plain";
  std::function<Result<ResourceContents>()> read;
};

}  // namespace naut::mcp
