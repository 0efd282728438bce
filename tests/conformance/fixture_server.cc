// The conformance fixture server: our server framework serving the tools, resources and
// prompts that the official MCP conformance suite (@modelcontextprotocol/conformance, server
// mode) names, plus a few tools the interop tests use (echo, add, slow, many_tools).
// A test fixture, not a product server.
//
//   naut_conformance_server                 serve over stdio
//   naut_conformance_server --http H:P      serve Streamable HTTP; prints "listening <url>"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "core/cancel.h"
#include "core/log.h"
#include "mcp/http_server.h"
#include "mcp/server.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

using namespace std::chrono_literals;

// A 1x1 red PNG and a tiny WAV, base64.
constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
constexpr const char* kWav = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

Json NoArgs() { return Json{{"type", "object"}, {"properties", Json::object()}}; }

Tool Simple(std::string name, std::string description, std::function<ToolResult(const Json&, ToolContext&)> h,
            Json schema = NoArgs()) {
  Tool t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.input_schema = std::move(schema);
  t.handler = std::move(h);
  return t;
}

ToolResult Blocks(std::vector<Json> blocks) {
  ToolResult r;
  for (auto& b : blocks) r.content.push_back({b["type"].get<std::string>(), b});
  return r;
}

ToolResult Elicit(ToolContext& ctx, const Json& params) {
  auto r = ctx.request("elicitation/create", params);
  if (!r) return ToolResult::Error("Elicitation failed: " + r.error().message());
  return ToolResult::Text("Elicitation completed: action=" + r->value("action", std::string("?")) +
                          ", content=" + DumpJson(r->value("content", Json::object())));
}

ServerDefinition FixtureDefinition() {
  ServerDefinition d;
  d.name = "neuronaut-conformance-fixture";
  d.version = "1.0.0";
  d.instructions = "Fixture server for the MCP conformance suite and NeuroNaut's interop tests.";

  d.tools.push_back(Simple("test_simple_text", "Returns simple text", [](const Json&, ToolContext&) {
    return ToolResult::Text("This is a simple text response for testing.");
  }));
  d.tools.push_back(Simple("test_image_content", "Returns an image", [](const Json&, ToolContext&) {
    return Blocks({Json{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}});
  }));
  d.tools.push_back(Simple("test_audio_content", "Returns audio", [](const Json&, ToolContext&) {
    return Blocks({Json{{"type", "audio"}, {"data", kWav}, {"mimeType", "audio/wav"}}});
  }));
  d.tools.push_back(Simple("test_embedded_resource", "Returns an embedded resource", [](const Json&, ToolContext&) {
    return Blocks({Json{{"type", "resource"},
                        {"resource", {{"uri", "test://embedded-resource"},
                                      {"mimeType", "text/plain"},
                                      {"text", "This is an embedded resource content."}}}}});
  }));
  d.tools.push_back(Simple("test_multiple_content_types", "Returns text, image and resource", [](const Json&, ToolContext&) {
    return Blocks({Json{{"type", "text"}, {"text", "Multiple content types test:"}},
                   Json{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}},
                   Json{{"type", "resource"},
                        {"resource", {{"uri", "test://mixed-content-resource"},
                                      {"mimeType", "application/json"},
                                      {"text", R"({"test":"data","value":123})"}}}}});
  }));
  d.tools.push_back(Simple("test_tool_with_logging", "Logs three messages while it runs", [](const Json&, ToolContext& ctx) {
    ctx.log("info", "Tool execution started");
    SleepFor(50ms, ctx.cancel);
    ctx.log("info", "Tool processing data");
    SleepFor(50ms, ctx.cancel);
    ctx.log("info", "Tool execution completed");
    return ToolResult::Text("Tool with logging executed successfully");
  }));
  d.tools.push_back(Simple("test_error_handling", "Always fails", [](const Json&, ToolContext&) {
    return ToolResult::Error("This tool intentionally returns an error for testing");
  }));
  d.tools.push_back(Simple("test_tool_with_progress", "Reports progress 0, 50, 100 of 100", [](const Json&, ToolContext& ctx) {
    ctx.progress(0, 100, "");
    SleepFor(50ms, ctx.cancel);
    ctx.progress(50, 100, "");
    SleepFor(50ms, ctx.cancel);
    ctx.progress(100, 100, "");
    return ToolResult::Text("Tool with progress executed successfully");
  }));
  d.tools.push_back(Simple(
      "test_sampling", "Asks the client's LLM",
      [](const Json& args, ToolContext& ctx) {
        if (!ctx.client_capabilities.contains("sampling")) return ToolResult::Error("the client does not support sampling");
        Json params{{"messages", Json::array({Json{{"role", "user"},
                                                   {"content", {{"type", "text"}, {"text", args["prompt"]}}}}})},
                    {"maxTokens", 100}};
        auto r = ctx.request("sampling/createMessage", params);
        if (!r) return ToolResult::Error("Sampling failed: " + r.error().message());
        std::string text = (*r).contains("content") && (*r)["content"].is_object()
                               ? (*r)["content"].value("text", std::string())
                               : DumpJson(*r);
        return ToolResult::Text("LLM response: " + text);
      },
      Json{{"type", "object"}, {"properties", {{"prompt", {{"type", "string"}}}}}, {"required", {"prompt"}}}));
  d.tools.push_back(Simple(
      "test_elicitation", "Asks the user",
      [](const Json& args, ToolContext& ctx) {
        if (!ctx.client_capabilities.contains("elicitation")) return ToolResult::Error("the client does not support elicitation");
        Json schema = Json::parse(R"({"type":"object","properties":{
          "username":{"type":"string","description":"User's response"},
          "email":{"type":"string","description":"User's email address"}},"required":["username","email"]})");
        auto r = ctx.request("elicitation/create", Json{{"message", args["message"]}, {"requestedSchema", schema}});
        if (!r) return ToolResult::Error("Elicitation failed: " + r.error().message());
        return ToolResult::Text("User response: " + DumpJson(*r));
      },
      Json{{"type", "object"}, {"properties", {{"message", {{"type", "string"}}}}}, {"required", {"message"}}}));
  d.tools.push_back(Simple("test_elicitation_sep1034_defaults", "Elicitation with defaults", [](const Json&, ToolContext& ctx) {
    return Elicit(ctx, Json{{"message", "Please review your information (defaults provided)"},
                            {"requestedSchema", Json::parse(R"({"type":"object","properties":{
      "name":{"type":"string","description":"User name","default":"John Doe"},
      "age":{"type":"integer","description":"User age","default":30},
      "score":{"type":"number","description":"User score","default":95.5},
      "status":{"type":"string","description":"User status","enum":["active","inactive","pending"],"default":"active"},
      "verified":{"type":"boolean","description":"Verification status","default":true}}})")}});
  }));
  d.tools.push_back(Simple("test_elicitation_sep1330_enums", "Elicitation with enum variants", [](const Json&, ToolContext& ctx) {
    return Elicit(ctx, Json{{"message", "Please choose options"},
                            {"requestedSchema", Json::parse(R"({"type":"object","properties":{
      "untitledSingle":{"type":"string","enum":["option1","option2","option3"]},
      "titledSingle":{"type":"string","oneOf":[{"const":"value1","title":"First Option"},{"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]},
      "legacyEnum":{"type":"string","enum":["opt1","opt2","opt3"],"enumNames":["Option One","Option Two","Option Three"]},
      "untitledMulti":{"type":"array","items":{"type":"string","enum":["option1","option2","option3"]}},
      "titledMulti":{"type":"array","items":{"anyOf":[{"const":"value1","title":"First Choice"},{"const":"value2","title":"Second Choice"},{"const":"value3","title":"Third Choice"}]}}}})")}});
  }));
  d.tools.push_back(Simple("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features",
                           [](const Json& args, ToolContext&) { return ToolResult::Text("received " + DumpJson(args)); },
                           Json::parse(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
      "$defs":{"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
      "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"}},"additionalProperties":false})")));
  d.tools.push_back(Simple("test_reconnection", "Closes its SSE stream mid-call; the result arrives after the client reconnects",
                           [](const Json&, ToolContext& ctx) {
                             ctx.close_stream();
                             SleepFor(300ms, ctx.cancel);
                             return ToolResult::Text("Reconnection test completed successfully");
                           }));

  // For NeuroNaut's own interop tests.
  d.tools.push_back(Simple(
      "echo", "Echoes the message",
      [](const Json& args, ToolContext&) { return ToolResult::Text("Echo: " + args["message"].get<std::string>()); },
      Json{{"type", "object"},
           {"properties", {{"message", {{"type", "string"}}}}},
           {"required", {"message"}},
           {"additionalProperties", false}}));
  Tool add = Simple(
      "add", "Adds two numbers",
      [](const Json& args, ToolContext&) {
        double sum = args["a"].get<double>() + args["b"].get<double>();
        return ToolResult::Structured(Json{{"sum", sum}});
      },
      Json{{"type", "object"},
           {"properties", {{"a", {{"type", "number"}}}, {"b", {{"type", "number"}}}}},
           {"required", {"a", "b"}}});
  add.output_schema = Json{{"type", "object"}, {"properties", {{"sum", {{"type", "number"}}}}}, {"required", {"sum"}}};
  d.tools.push_back(add);
  d.tools.push_back(Simple(
      "slow", "Sleeps for `seconds`, reporting progress each 100 ms; stops when cancelled",
      [](const Json& args, ToolContext& ctx) {
        double seconds = args["seconds"].get<double>();
        int steps = static_cast<int>(seconds * 10);
        for (int i = 0; i < steps; ++i) {
          if (!SleepFor(100ms, ctx.cancel)) return ToolResult::Error("cancelled");
          ctx.progress(i + 1, steps, "");
        }
        return ToolResult::Text("slept " + DumpJson(args["seconds"]) + " s");
      },
      Json{{"type", "object"}, {"properties", {{"seconds", {{"type", "number"}, {"minimum", 0}}}}}, {"required", {"seconds"}}}));

  Resource text{"test://static-text", "static-text", "A static text resource", "text/plain", [] {
                  return Result<ResourceContents>(ResourceContents{"test://static-text", "text/plain",
                                                                   "This is the content of the static text resource.", {}});
                }};
  Resource binary{"test://static-binary", "static-binary", "A static binary resource (PNG)", "image/png", [] {
                    return Result<ResourceContents>(ResourceContents{"test://static-binary", "image/png", "", std::string(kPng)});
                  }};
  Resource watched{"test://watched-resource", "watched-resource", "A resource clients may subscribe to", "text/plain", [] {
                     return Result<ResourceContents>(ResourceContents{"test://watched-resource", "text/plain", "watched", {}});
                   }};
  d.resources = {text, binary, watched};
  d.resource_templates.push_back(
      {"test://template/{id}/data", "template-data", "Data for an id", "application/json",
       [](const std::string& uri, const std::map<std::string, std::string>& vars) {
         const std::string& id = vars.at("id");
         Json body{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
         return Result<ResourceContents>(ResourceContents{uri, "application/json", DumpJson(body), {}});
       }});

  auto text_message = [](const std::string& t) {
    return Json{{"role", "user"}, {"content", {{"type", "text"}, {"text", t}}}};
  };
  d.prompts.push_back({"test_simple_prompt", "", "A simple prompt without arguments", {},
                       [text_message](const std::map<std::string, std::string>&) {
                         return Result<PromptResult>(PromptResult{"", Json::array({text_message("This is a simple prompt for testing.")})});
                       }});
  d.prompts.push_back({"test_prompt_with_arguments", "", "A prompt with two arguments",
                       {{"arg1", "First test argument", true}, {"arg2", "Second test argument", true}},
                       [text_message](const std::map<std::string, std::string>& a) {
                         return Result<PromptResult>(PromptResult{
                             "", Json::array({text_message("Prompt with arguments: arg1='" + a.at("arg1") + "', arg2='" +
                                                           a.at("arg2") + "'")})});
                       }});
  d.prompts.push_back({"test_prompt_with_embedded_resource", "", "A prompt embedding a resource",
                       {{"resourceUri", "URI of the resource to embed", true}},
                       [text_message](const std::map<std::string, std::string>& a) {
                         Json resource{{"role", "user"},
                                       {"content", {{"type", "resource"},
                                                    {"resource", {{"uri", a.at("resourceUri")},
                                                                  {"mimeType", "text/plain"},
                                                                  {"text", "Embedded resource content for testing."}}}}}};
                         return Result<PromptResult>(PromptResult{
                             "", Json::array({resource, text_message("Please process the embedded resource above.")})});
                       }});
  d.prompts.push_back({"test_prompt_with_image", "", "A prompt with an image", {},
                       [text_message](const std::map<std::string, std::string>&) {
                         Json image{{"role", "user"}, {"content", {{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}}};
                         return Result<PromptResult>(
                             PromptResult{"", Json::array({image, text_message("Please analyze the image above.")})});
                       }});
  d.complete = [](const Json&, const std::string&, const std::string& value, const Json&) {
    std::vector<std::string> out;
    for (const char* c : {"paris", "park", "party", "test", "testing"}) {
      if (std::string(c).rfind(value, 0) == 0) out.push_back(c);
    }
    return Result<std::vector<std::string>>(out);
  };
  return d;
}

}  // namespace
}  // namespace naut::mcp

int main(int argc, char** argv) {
  using namespace naut;
  (void)InitLogging({.level = "warn"});
  std::string http;
  size_t page_size = 100;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--http" && i + 1 < argc) {
      http = argv[++i];
    } else if (a == "--page-size" && i + 1 < argc) {
      page_size = std::stoul(argv[++i]);
    } else {
      std::cerr << "usage: naut_conformance_server [--http HOST:PORT] [--page-size N]\n";
      return 2;
    }
  }
  mcp::Server server(mcp::FixtureDefinition(), mcp::ServerOptions{.page_size = page_size});
  if (http.empty()) {
    Status st = mcp::ServeStdio(server, STDIN_FILENO, STDOUT_FILENO);
    return st.ok() ? 0 : 1;
  }
  auto hp = mcp::ParseHostPort(http);
  if (!hp) {
    std::cerr << hp.error().message() << "\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  mcp::HttpServer http_server(server, {.host = hp->first, .port = hp->second});
  if (Status st = http_server.Start(); !st.ok()) {
    std::cerr << st.message() << "\n";
    return 1;
  }
  std::cout << "listening " << http_server.url() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  http_server.Stop();
  return 0;
}
