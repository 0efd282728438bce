#pragma once
// The client side of a transport: one connection to one MCP server that carries JSON-RPC
// messages both ways. Implementations: StdioClientTransport (a child process) and
// HttpClientTransport (Streamable HTTP).

#include <functional>
#include <string>

#include "core/json.h"
#include "core/status.h"

namespace naut::mcp {

class ClientTransport {
 public:
  virtual ~ClientTransport() = default;

  // Starts the connection. `on_message` receives every message from the server (from a
  // transport thread, one at a time); `on_closed` is called once when the connection ends
  // for good (process exited, stream failed), with the reason.
  virtual Status Start(std::function<void(const Json&)> on_message, std::function<void(const Status&)> on_closed) = 0;

  // Sends one message. Thread-safe. Fails when the connection is gone.
  virtual Status Send(const Json& message) = 0;

  // Tells the transport which protocol version was negotiated (HTTP sends it as a header).
  virtual void SetProtocolVersion(const std::string& version) { (void)version; }

  // Ends the connection; no callbacks run after Close returns. Idempotent.
  virtual void Close() = 0;

  // "stdio: npx -y server-everything" / "http: http://127.0.0.1:3000/mcp", for logs and errors.
  virtual std::string Describe() const = 0;
};

}  // namespace naut::mcp
