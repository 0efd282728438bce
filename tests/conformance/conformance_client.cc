// The client side of the official MCP conformance suite: a small program on our client
// library. The suite starts it as `naut_conformance_client <server-url>` with the scenario
// name in MCP_CONFORMANCE_SCENARIO, and checks what it did on the wire.

#include <cstdlib>
#include <iostream>

#include "core/log.h"
#include "mcp/client.h"
#include "mcp/http_client.h"

using namespace naut;

int main(int argc, char** argv) {
  (void)InitLogging({.level = "warn"});
  if (argc < 2) {
    std::cerr << "usage: naut_conformance_client <server-url>\n";
    return 2;
  }
  const char* scenario_env = std::getenv("MCP_CONFORMANCE_SCENARIO");
  std::string scenario = scenario_env ? scenario_env : "";
  mcp::ClientOptions options;
  options.client_name = "neuronaut-conformance-client";
  options.request_timeout = std::chrono::seconds(20);
  // Elicitation is answered by accepting the requested schema's defaults (SEP-1034): this
  // client has no user to ask.
  options.capabilities = Json{{"elicitation", Json::object()}};
  options.on_request = [](const std::string& method, const Json& params) -> Result<Json> {
    if (method == "elicitation/create") {
      return Json{{"action", "accept"},
                  {"content", mcp::ApplyElicitationDefaults(params.value("requestedSchema", Json::object()), Json::object())}};
    }
    return Unimplemented("neuronaut-conformance-client does not support " + method);
  };
  auto client = mcp::Client::Connect(
      std::make_unique<mcp::HttpClientTransport>("conformance", mcp::HttpClientOptions{.url = argv[1]}), options);
  if (!client) {
    std::cerr << "connect: " << client.error().message() << "\n";
    return 1;
  }
  auto tools = (*client)->ListTools();
  if (!tools) {
    std::cerr << "tools/list: " << tools.error().message() << "\n";
    return 1;
  }
  int failures = 0;
  // Every scenario but initialize wants its tools called; the arguments come from the schema.
  if (scenario != "initialize") {
    for (const auto& t : *tools) {
      Json args = Json::object();
      if (t.input_schema.contains("properties")) {
        for (const auto& [name, prop] : t.input_schema["properties"].items()) {
          std::string type = prop.value("type", "string");
          args[name] = type == "number" || type == "integer" ? Json(name == "a" ? 5 : 3) : Json("test");
        }
      }
      auto r = (*client)->CallTool(t.name, args);
      if (!r) {
        std::cerr << "tools/call " << t.name << ": " << r.error().message() << "\n";
        ++failures;
        continue;
      }
      for (const auto& c : r->content) std::cout << t.name << ": " << DumpJson(c.data) << "\n";
    }
  }
  (*client)->Close();
  return failures == 0 ? 0 : 1;
}
