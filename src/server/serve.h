#pragma once
// `neuronaut serve`: one HTTP server, one port, for the web dashboard (/), the HTTP API
// (/api, server/api/api.h), MCP over Streamable HTTP (/mcp, a built-in server, the skill
// library by default) and, when a model is given, the OpenAI-compatible model server (/v1).
// Every request first passes the Guard (server/guard.h): Host and Origin checks, the token,
// size and rate limits, and the security headers.
//
// Thread-safety: Open, Start and Stop from one owner thread; requests are served on the
// server's own thread pool.

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace naut::server {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8765;  // 0: any free port
  // Required for /api, /mcp and /v1 on a non-loopback bind and for /api's write actions. Must
  // be set (serve_cmd generates one) unless the bind is loopback.
  std::string token;
  std::vector<std::string> allowed_hosts;    // Host names besides loopback ones
  std::vector<std::string> allowed_origins;  // origins besides this server's own
  double rate_per_s = 50;                    // requests a second per client address
  double burst = 200;
  std::string mcp_server = "skills";  // the built-in MCP server at /mcp; "" for none
  // neuronaut and its global flags, to start runs as child processes.
  std::vector<std::string> run_command;
  // A GGUF for /v1 (the embedded engine); empty: /v1 is not served (501, saying why).
  std::string model;
  int parallel = 2;              // /v1 slots decoded together
  int ctx_size = 4096;           // tokens each slot holds
  int queue = 16;                // /v1 requests that may wait for a slot
  int model_threads = 0;         // engine threads; 0: every core
  std::string chat_format;       // a built-in prompt format instead of the model's template
  std::string chat_template;     // a Jinja file instead of the model's template
  std::string pooling;           // /v1/embeddings: mean, cls or last; empty: the model's own
  std::string kv_cache = "f16";  // /v1 slots' KV cache type, f16, f32 or q8_0
  int threads = 48;              // concurrent connections (each open event stream holds one)
};

class Serve {
 public:
  // Builds the routes (the MCP server definition, the API); nothing listens yet. Fails with
  // InvalidArgument for a non-loopback host without a token.
  static Result<std::unique_ptr<Serve>> Open(const Config& config, ServeOptions options);
  ~Serve();
  Serve(const Serve&) = delete;
  Serve& operator=(const Serve&) = delete;

  // Binds and serves on a background thread; Unavailable naming the address when it cannot.
  // The model of /v1 loads meanwhile (/health says 503 until it is loaded).
  Status Start();
  // Blocks until /v1's model is loaded (Ok, also when no model is served) or failed to load.
  Status WaitModelLoaded();
  // Ends event streams and MCP sessions, stops runs this server started, stops listening and
  // waits for request threads. Idempotent.
  void Stop();

  int port() const;
  std::string url() const;         // http://HOST:PORT
  std::string mcp_path() const;    // "/mcp", or "" when MCP is not served
  bool serves_models() const;      // whether /v1 answers
  std::string model_note() const;  // why /v1 is not served

  struct Impl;

 private:
  explicit Serve(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace naut::server
