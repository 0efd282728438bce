// neuronaut mcp list | tools <server> | call <server> <tool> ...   (the MCP client side)
// neuronaut mcp-server <name> [WORD...] [--http HOST:PORT]          (serve a built-in server)

#include <unistd.h>

#include <csignal>
#include <iostream>
#include <string_view>

#include "cli/context.h"
#include "envs/registry.h"
#include "mcp/http_server.h"
#include "mcp/hub.h"
#include "mcp/server.h"
#include "mcp/stdio.h"

namespace naut::cli {
namespace {

// The servers named as every command names them (an mcp.json entry wins over a built-in of its
// name), after a note on stderr for each built-in so hidden: the one `server` names, or every
// one when `server` is empty.
std::unique_ptr<mcp::ClientManager> MakeHub(const Config& config, std::string_view server = {}) {
  envs::ResolvedServers resolved = envs::ResolveServers(config);
  for (const auto& name : resolved.hidden_builtins) {
    if (server.empty() || name == server)
      std::cerr << envs::HiddenBuiltinNote(config, name) << "\n";
  }
  return std::make_unique<mcp::ClientManager>(std::move(resolved.servers),
                                              mcp::HubOptionsFrom(config));
}

// key=value pairs into tool arguments. A value is JSON when it parses as JSON and the schema
// does not say the field is a string (so name=42 stays "42" for a string field).
Result<Json> ParseKeyValues(const std::vector<std::string>& pairs, const Json& schema) {
  Json args = Json::object();
  for (const auto& p : pairs) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("argument '" + p +
                             "' is not key=value (use --json for nested values)");
    }
    std::string key = p.substr(0, eq), value = p.substr(eq + 1);
    bool is_string = false;
    if (schema.is_object() && schema.contains("properties") && schema["properties"].contains(key)) {
      const Json& prop = schema["properties"][key];
      is_string = prop.is_object() && prop.value("type", Json("")) == "string";
    }
    auto parsed = ParseJson(value, "value of " + key);
    args[key] = (!is_string && parsed) ? *parsed : Json(value);
  }
  return args;
}

void PrintToolResult(const mcp::ToolResult& r) {
  for (const auto& c : r.content) {
    if (c.type == "text" && c.data.contains("text") && c.data["text"].is_string()) {
      std::cout << c.data["text"].get<std::string>() << "\n";
    } else {
      Json shown = c.data;
      if (shown.contains("data") && shown["data"].is_string() &&
          shown["data"].get<std::string>().size() > 80) {
        shown["data"] =
            "<" + std::to_string(shown["data"].get<std::string>().size()) + " bytes of base64>";
      }
      std::cout << DumpJson(shown) << "\n";
    }
  }
  if (r.structured) std::cout << "structuredContent: " << DumpJson(*r.structured, 2) << "\n";
}

// neuronaut mcp list: every configured server, started to check it, with its tool count.
void AddMcpListCommand(CLI::App& mcp, Context& ctx) {
  auto* list = mcp.add_subcommand(
      "list", "Configured MCP servers and their state (starts each to check it)");
  list->callback([&ctx] {
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    auto hub = MakeHub(*config);
    hub->ConnectAll();
    auto statuses = hub->Statuses();
    if (statuses.empty()) {
      std::cout << "no MCP servers configured (add them to " << config->mcp_file.string()
                << " as {\"mcpServers\": {\"name\": {\"command\": ..., \"args\": [...]}}})\n";
      return;
    }
    bool any_down = false;
    for (const auto& s : statuses) {
      std::string tools;
      if (s.state == mcp::ServerState::kConnected) {
        auto t = hub->ListTools(s.name);
        tools =
            t ? std::to_string(t->size()) + " tools" : "tools unavailable: " + t.error().message();
      }
      any_down = any_down || s.state == mcp::ServerState::kDown;
      std::cout << s.name << "\t" << mcp::ServerStateName(s.state) << "\t" << s.target << "\n";
      if (!s.detail.empty())
        std::cout << "\t" << s.detail
                  << (s.protocol_version.empty() ? "" : " (protocol " + s.protocol_version + ")")
                  << "\n";
      if (!tools.empty()) std::cout << "\t" << tools << "\n";
    }
    if (any_down) ctx.exit_code = kExitFailure;
  });
}

// neuronaut mcp tools <server> [--json]
void AddMcpToolsCommand(CLI::App& mcp, Context& ctx) {
  static std::string tools_server;
  static bool tools_json = false;
  auto* tools = mcp.add_subcommand("tools", "The tools of one server, with their input schemas");
  tools->add_option("server", tools_server, "Server name (see `neuronaut mcp list`)")->required();
  tools->add_flag("--json", tools_json, "Print the tools as one JSON array");
  tools->callback([&ctx] {
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    auto hub = MakeHub(*config, tools_server);
    auto list = hub->ListTools(tools_server);
    if (!list) {
      ctx.exit_code = Fail(list.error());
      return;
    }
    Json all = Json::array();
    for (const auto& t : *list) {
      Json j{{"name", t.name}, {"description", t.description}, {"inputSchema", t.input_schema}};
      if (!t.output_schema.is_null()) j["outputSchema"] = t.output_schema;
      all.push_back(j);
      if (!tools_json) {
        std::cout << JoinToolName(tools_server, t.name) << "\n";
        if (!t.description.empty()) std::cout << "  " << t.description << "\n";
        std::cout << "  input: " << DumpJson(t.input_schema) << "\n";
      }
    }
    if (tools_json) std::cout << DumpJson(all, 2) << "\n";
  });
}

// neuronaut mcp call <server> <tool> key=value ... | --json '{...}'
void AddMcpCallCommand(CLI::App& mcp, Context& ctx) {
  static std::string call_server, call_tool, call_json;
  static std::vector<std::string> call_args;
  static double call_timeout = 0;
  auto* call = mcp.add_subcommand(
      "call", "Call a tool: mcp call <server> <tool> key=value ... | --json '{...}'");
  call->add_option("server", call_server, "Server name")->required();
  call->add_option("tool", call_tool, "Tool name")->required();
  call->add_option("args", call_args,
                   "Arguments as key=value (values that parse as JSON are JSON)");
  call->add_option("--json", call_json, "Arguments as one JSON object");
  call->add_option("--timeout", call_timeout, "Seconds to wait (default: [mcp] call_timeout_s)");
  call->callback([&ctx] {
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    auto hub = MakeHub(*config, call_server);
    auto tools = hub->ListTools(call_server);
    if (!tools) {
      ctx.exit_code = Fail(tools.error());
      return;
    }
    const mcp::ToolInfo* info = nullptr;
    for (const auto& t : *tools)
      if (t.name == call_tool) info = &t;
    if (!info) {
      std::string names;
      for (const auto& t : *tools) names += (names.empty() ? "" : ", ") + t.name;
      ctx.exit_code = Fail(NotFound("server '" + call_server + "' has no tool '" + call_tool +
                                    "' (tools: " + names + ")"));
      return;
    }
    Result<Json> args = Json::object();
    if (!call_json.empty()) {
      if (!call_args.empty()) {
        ctx.exit_code =
            Fail(InvalidArgument("give arguments either as key=value or with --json, not both"));
        return;
      }
      args = ParseJson(call_json, "--json");
      if (args && !args->is_object())
        args = InvalidArgument("--json must be a JSON object of arguments");
    } else {
      args = ParseKeyValues(call_args, info->input_schema);
    }
    if (!args) {
      ctx.exit_code = Fail(args.error());
      return;
    }
    mcp::RequestOptions ro;
    if (call_timeout > 0)
      ro.timeout = std::chrono::milliseconds(static_cast<int64_t>(call_timeout * 1000));
    auto result = hub->CallTool(JoinToolName(call_server, call_tool), *args, ro);
    if (!result) {
      ctx.exit_code = Fail(result.error());
      return;
    }
    PrintToolResult(*result);
    if (result->is_error) ctx.exit_code = kExitFailure;
  });
}

void AddMcpClientCommands(CLI::App& app, Context& ctx) {
  auto* mcp = app.add_subcommand(
      "mcp", "Inspect and call the configured MCP servers (mcp.json and built-ins)");
  mcp->require_subcommand(1);

  AddMcpListCommand(*mcp, ctx);
  AddMcpToolsCommand(*mcp, ctx);
  AddMcpCallCommand(*mcp, ctx);
}

void AddMcpServerCommand(CLI::App& app, Context& ctx) {
  static std::string name, http;
  static std::vector<std::string> operands;
  static bool list_only = false;
  auto* cmd = app.add_subcommand(
      "mcp-server", "Serve a built-in MCP server over stdio (default) or Streamable HTTP");
  cmd->add_option("name", name, "Built-in server name (omit to list them)");
  std::string operands_help;
  for (const auto& s : envs::BuiltinServers()) {
    if (!s.operands.empty())
      operands_help += (operands_help.empty() ? "" : "; ") + s.name + " " + s.operands;
  }
  cmd->add_option(
      "operands", operands,
      "Arguments after the name: " + (operands_help.empty() ? std::string("none") : operands_help));
  cmd->add_option("--http", http,
                  "Serve Streamable HTTP on HOST:PORT (e.g. 127.0.0.1:8931) instead of stdio");
  cmd->add_flag("--list", list_only, "List the built-in servers");
  cmd->callback([&ctx] {
    if (name.empty() || list_only) {
      const auto& servers = envs::BuiltinServers();
      if (servers.empty()) std::cout << "no built-in MCP servers are compiled into this build\n";
      for (const auto& s : servers) std::cout << s.name << "\t" << s.description << "\n";
      if (name.empty() && !list_only) ctx.exit_code = kExitUsage;
      return;
    }
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    auto entry = envs::FindBuiltinServer(name);
    if (!entry) {
      ctx.exit_code = Fail(entry.error());
      return;
    }
    if (Status st = envs::TakeOperands(**entry, operands, *config); !st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    auto definition = (*entry)->make(*config);
    if (!definition) {
      ctx.exit_code = Fail(definition.error().WithContext("mcp-server " + name));
      return;
    }
    mcp::Server server(std::move(*definition));
    if (http.empty()) {
      Status st = mcp::ServeStdio(server, STDIN_FILENO, STDOUT_FILENO);
      if (!st.ok()) ctx.exit_code = Fail(st);
      return;
    }
    auto hp = mcp::ParseHostPort(http);
    if (!hp) {
      ctx.exit_code = Fail(hp.error().WithContext("--http"));
      return;
    }
    mcp::HttpServerOptions options;
    options.host = hp->first;
    options.port = hp->second;
    mcp::HttpServer http_server(server, options);
    // SIGINT/SIGTERM end the server cleanly: a waiting thread receives them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    Status st = http_server.Start();
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    // On stdout (unused in HTTP mode) and flushed at once: with --http HOST:0 this line is how
    // a user or a test learns the port.
    std::cout << "neuronaut: mcp server '" << name << "' listening on " << http_server.url()
              << " (Ctrl-C stops it)" << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    http_server.Stop();
  });
}

}  // namespace

void AddMcpCommands(CLI::App& app, Context& ctx) {
  AddMcpClientCommands(app, ctx);
  AddMcpServerCommand(app, ctx);
}

}  // namespace naut::cli
