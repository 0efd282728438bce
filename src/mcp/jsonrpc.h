#pragma once
// JSON-RPC 2.0 as MCP uses it: decoding one wire message (a line of stdio or an HTTP body)
// into typed messages, and building requests, notifications, results and errors.
//
// Decoding never throws and never fails silently: every malformed input yields an error
// response the caller sends back (parse error, invalid request), with the request id when one
// could be read. Batches are decoded when the caller allows them (protocol 2025-03-26);
// otherwise a batch is answered with one "invalid request" error. All functions are pure and
// thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::mcp {

// Standard JSON-RPC error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// MCP: a resource URI that does not exist.
inline constexpr int kResourceNotFound = -32002;
// MCP (2025-11-25): the server needs the user to complete a URL elicitation first.
inline constexpr int kRequestCancelled = -32800;

// Messages bigger than this are refused with an error before parsing (as are messages nested
// deeper than kMaxJsonDepth; see core/json.h).
inline constexpr size_t kMaxMessageBytes = kMaxJsonBytes;

struct RpcError {
  int code = kInternalError;
  std::string message;
  Json data;  // null when absent
};

struct Message {
  enum class Kind { kRequest, kNotification, kResponse };
  Kind kind = Kind::kNotification;
  Json id;                        // string or integer; null for notifications
  std::string method;             // requests and notifications
  Json params;                    // object, array or null
  Json result;                    // responses without error
  std::optional<RpcError> error;  // responses that failed

  bool is_request() const { return kind == Kind::kRequest; }
  bool is_notification() const { return kind == Kind::kNotification; }
  bool is_response() const { return kind == Kind::kResponse; }
};

struct Decoded {
  std::vector<Message> messages;
  std::vector<Json> error_replies;  // ready-to-send error responses for malformed parts
  bool batch = false;
};

// Decodes one wire message. `allow_batch`: a JSON array is a batch of messages. A message over
// kMaxMessageBytes or nested deeper than kMaxJsonDepth is answered like one that is not JSON:
// a parse error (-32700) with a null id.
Decoded Decode(std::string_view text, bool allow_batch);

// What a client transport does with a message from its server that it refused to parse (too
// big or too deep; `why` says which, naming the server): `text` (the message, or the head of
// one too big to keep) still tells, by its "id" and "method", who waits for it.
struct Refusal {
  // An error response to hand to the client in place of the refused response, so that the
  // request it answered fails now instead of timing out. Its id is null when unreadable (the
  // client then fails every request in flight). Null when the message was not a response.
  Json to_client;
  // A parse error to send back when the refused message was a request of the server's.
  Json to_server;
};
Refusal RefuseMessage(std::string_view text, const Status& why);

// Validates an already parsed value as one message; on failure returns the error response to
// send (with the id when readable).
Result<Message> FromJson(const Json& value, Json* error_reply);

Json MakeRequest(const Json& id, std::string_view method, Json params);
Json MakeNotification(std::string_view method, Json params);
Json MakeResult(const Json& id, Json result);
Json MakeError(const Json& id, int code, std::string_view message, Json data = nullptr);
Json MakeError(const Json& id, const RpcError& error);

// A Status for an error response, for callers of the client API: "<method>: <message> (code)".
Status ErrorToStatus(std::string_view method, const RpcError& error);

// Maps our Status codes to JSON-RPC errors for replies from handlers.
RpcError StatusToError(const Status& status);

// A stable key for an id (string ids and integer ids never collide).
std::string IdKey(const Json& id);

}  // namespace naut::mcp
