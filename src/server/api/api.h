#pragma once
// The HTTP API under /api: what the agent keeps in its data home (runs and their traces,
// progress, skills, memory), the model servers and MCP servers it uses, and two write actions
// (start a run, stop a run). Every route is in one table, kApiRoutes, from which the routes are
// registered and which the OpenAPI document (openapi/openapi.json) must match route for route
// (server_api_test checks both ways, and every answer against its documented schema).
//
// Reads open the data home's stores per request (SQLite WAL), so a running agent in another
// process and serve see the same data and never share a connection. A run's events are read
// from runs/<id>/events.jsonl, live over SSE by following the file as the agent appends to it.
//
// Thread-safety: handlers run on httplib's request threads, any number at once. Mount once,
// before the server listens; Stop (from the owner) ends open event streams.

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/data_home.h"
#include "server/api/run_launcher.h"

namespace naut::server {

struct ApiOptions {
  Config config;  // serve's effective configuration (home, [llm], [agent], MCP servers)
  // neuronaut and the global flags serve was given; a run is started as <command> run ...
  std::vector<std::string> run_command;
  std::string mcp_path;           // where the MCP endpoint is mounted ("" when it is not)
  std::string mcp_server;         // the built-in server it serves
  std::string model_server;       // what /v1 serves (a GGUF path), "" when it is not served
  std::string model_server_note;  // why /v1 is not served, when it is not
};

// One documented route: method and OpenAPI path ("/api/runs/{id}").
struct ApiRouteInfo {
  std::string_view method;
  std::string_view path;
};
// Every /api route, in registration order.
const std::vector<ApiRouteInfo>& ApiRoutes();

class Api {
 public:
  explicit Api(ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Registers every route of ApiRoutes() on `http`, which must outlive this object.
  void Mount(httplib::Server& http);
  // Ends open event streams (within a second) and stops runs this API started.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace naut::server
