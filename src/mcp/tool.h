#pragma once
// What a tool server offers, as plain values: tools, resources and their results. The MCP
// server framework (mcp/server.h) serves these over stdio or HTTP; built-in servers (rpg, fs,
// exec, skills) are written as a list of these and can be unit-tested without a transport.
//
// Handlers may be called from a worker thread of the server; a handler must be safe to call
// concurrently with other handlers of the same server unless the server serialises them
// (ServerOptions::serialize_tool_calls).

#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::mcp {

class Server;  // mcp/server.h

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

  static ToolResult Text(std::string text) {
    return {{Content::Text(std::move(text))}, std::nullopt, false};
  }
  static ToolResult Error(std::string text) {
    return {{Content::Text(std::move(text))}, std::nullopt, true};
  }
  static ToolResult Structured(Json value) {
    return {{Content::Text(DumpJson(value))}, std::move(value), false};
  }

  // The result as text, the one way every reader sees it (the model after a direct call, a
  // skill or code action through the bridge, `neuronaut play`): text blocks as they are, an
  // embedded resource as its text, a resource link as "[resource URI]", anything else as
  // "[TYPE content]", one block per line; the structured content as JSON when there is no
  // text at all.
  std::string AsText() const {
    std::string text;
    for (const auto& c : content) {
      if (!text.empty()) text += "\n";
      const Json& d = c.data;
      if (c.type == "text") {
        text += d.value("text", "");
      } else if (c.type == "resource" && d.contains("resource") && d["resource"].contains("text")) {
        text += d["resource"].value("text", "");
      } else if (c.type == "resource_link") {
        text += "[resource " + d.value("uri", "") + "]";
      } else {
        text += "[" + c.type + " content]";
      }
    }
    if (text.empty() && structured) text = DumpJson(*structured);
    return text;
  }
};

// What a running call may use: cancellation and progress reporting.
struct ToolContext {
  std::stop_token cancel;
  // progress(done, total_or_negative, message); a no-op when the caller asked for none.
  std::function<void(double, double, const std::string&)> progress = [](double, double,
                                                                        const std::string&) {};
  // log(level, data): a notifications/message to the client when its logging level lets it
  // through (levels: debug info notice warning error critical alert emergency).
  std::function<void(const std::string&, const Json&)> log = [](const std::string&, const Json&) {};
  // request(method, params): a request to the client (sampling/createMessage, elicitation/create,
  // roots/list) that waits for its answer; fails when the client does not answer in time.
  std::function<Result<Json>(const std::string&, const Json&)> request =
      [](const std::string& method, const Json&) {
        return Result<Json>(Unimplemented("no client to send '" + method + "' to"));
      };
  // Closes the SSE stream that carries this call's messages (Streamable HTTP), telling the
  // client to reconnect after the retry interval and poll for the result (SEP-1699). No-op on
  // stdio.
  std::function<void()> close_stream = [] {};
  // What the client declared in initialize ("sampling", "elicitation", "roots").
  Json client_capabilities = Json::object();
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
  std::optional<std::string> blob;  // base64; set for binary contents instead of text
};

struct Resource {
  std::string uri;  // e.g. "rpg://state"
  std::string name;
  std::string description;
  std::string mime_type = "text/plain";
  std::function<Result<ResourceContents>()> read;
};

// A family of resources named by an RFC 6570 template with simple {variables}, e.g.
// "rpg://chat/{chat_id}/messages". `read` gets the concrete URI and the variables.
struct ResourceTemplate {
  std::string uri_template;
  std::string name;
  std::string description;
  std::string mime_type = "text/plain";
  std::function<Result<ResourceContents>(const std::string& uri,
                                         const std::map<std::string, std::string>& vars)>
      read;
};

struct PromptArgument {
  std::string name;
  std::string description;
  bool required = false;
};

struct PromptResult {
  std::string description;
  Json messages = Json::array();  // [{"role": "user", "content": {...}}], as MCP spells them
};

struct Prompt {
  std::string name;
  std::string title;
  std::string description;
  std::vector<PromptArgument> arguments;
  std::function<Result<PromptResult>(const std::map<std::string, std::string>& arguments)> get;
};

// completion/complete: candidate values for argument `name` whose typed prefix is `value`, of
// the prompt or resource template named by `ref` ({"type": "ref/prompt", "name"} or
// {"type": "ref/resource", "uri"}). `context` holds already chosen arguments.
using CompletionHandler = std::function<Result<std::vector<std::string>>(
    const Json& ref, const std::string& name, const std::string& value, const Json& context)>;

// Everything one server offers. Built-in servers (envs/registry.h) produce one of these; the
// framework (mcp/server.h) serves it. The lists may change while the server runs
// (Server::SetTools and friends), which tells every session with notifications/*/list_changed.
struct ServerDefinition {
  std::string name;
  std::string version = "0.1.0";
  std::string title;
  std::string instructions;
  std::vector<Tool> tools;
  std::vector<Resource> resources;
  std::vector<ResourceTemplate> resource_templates;
  std::vector<Prompt> prompts;
  CompletionHandler complete;  // empty: completion answers with no values

  // Lists that may change at run time: their capability (with listChanged) is declared even
  // while the list is empty, so clients know to listen. A list that is not empty when a
  // session initializes is always declared with listChanged.
  bool dynamic_tools = false;
  bool dynamic_resources = false;
  bool dynamic_prompts = false;

  // For servers whose lists follow outside state (a database another process writes): runs on
  // its own thread for the life of the Server serving this definition, started by the
  // Server's constructor; the destructor requests `stop` and joins it, so it must return soon
  // after. It may call the Server's Set*/Add*/Remove* methods.
  std::function<void(Server& server, std::stop_token stop)> watch;
};

}  // namespace naut::mcp
