#include "mcp/jsonrpc.h"

namespace naut::mcp {
namespace {

bool ValidId(const Json& id) {
  return id.is_string() || id.is_number_integer() || id.is_number_unsigned();
}

Json ReadableId(const Json& value) {
  if (value.is_object()) {
    auto it = value.find("id");
    if (it != value.end() && ValidId(*it)) return *it;
  }
  return nullptr;
}

}  // namespace

Json MakeRequest(const Json& id, std::string_view method, Json params) {
  Json j{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) j["params"] = std::move(params);
  return j;
}

Json MakeNotification(std::string_view method, Json params) {
  Json j{{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) j["params"] = std::move(params);
  return j;
}

Json MakeResult(const Json& id, Json result) {
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

Json MakeError(const Json& id, int code, std::string_view message, Json data) {
  Json err{{"code", code}, {"message", message}};
  if (!data.is_null()) err["data"] = std::move(data);
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

Json MakeError(const Json& id, const RpcError& error) {
  return MakeError(id, error.code, error.message, error.data);
}

Result<Message> FromJson(const Json& value, Json* error_reply) {
  auto invalid = [&](const std::string& why) -> Result<Message> {
    if (error_reply)
      *error_reply = MakeError(ReadableId(value), kInvalidRequest, "Invalid Request: " + why);
    return InvalidArgument("json-rpc: " + why);
  };
  if (!value.is_object())
    return invalid(std::string("expected an object, got ") + std::string(JsonTypeName(value)));
  auto version = value.find("jsonrpc");
  if (version == value.end() || !version->is_string() || *version != "2.0") {
    return invalid("\"jsonrpc\" must be \"2.0\"");
  }
  Message m;
  auto id = value.find("id");
  bool has_id = id != value.end();
  if (has_id && !ValidId(*id) && !(id->is_null() && (value.contains("error")))) {
    return invalid(std::string("\"id\" must be a string or an integer, got ") +
                   std::string(JsonTypeName(*id)));
  }
  auto method = value.find("method");
  if (method != value.end()) {
    if (!method->is_string()) return invalid("\"method\" must be a string");
    m.method = method->get<std::string>();
    if (m.method.empty()) return invalid("\"method\" must not be empty");
    auto params = value.find("params");
    if (params != value.end()) {
      if (!params->is_object() && !params->is_array()) {
        return invalid(std::string("\"params\" must be an object or an array, got ") +
                       std::string(JsonTypeName(*params)));
      }
      m.params = *params;
    }
    if (has_id) {
      m.kind = Message::Kind::kRequest;
      m.id = *id;
    } else {
      m.kind = Message::Kind::kNotification;
    }
    return m;
  }
  auto result = value.find("result");
  auto error = value.find("error");
  if (result == value.end() && error == value.end())
    return invalid("needs \"method\", \"result\" or \"error\"");
  if (!has_id) return invalid("a response needs an \"id\"");
  m.kind = Message::Kind::kResponse;
  m.id = *id;
  if (error != value.end()) {
    RpcError e;
    if (error->is_object()) {
      auto code = error->find("code");
      if (code != error->end() && code->is_number_integer()) e.code = code->get<int>();
      auto msg = error->find("message");
      if (msg != error->end() && msg->is_string()) e.message = msg->get<std::string>();
      auto data = error->find("data");
      if (data != error->end()) e.data = *data;
    } else {
      e.message = "malformed error object";
    }
    m.error = std::move(e);
  } else {
    m.result = *result;
  }
  return m;
}

Decoded Decode(std::string_view text, bool allow_batch) {
  Decoded out;
  auto parsed = ParseJson(text, "json-rpc message", kMaxMessageBytes);
  if (!parsed) {
    out.error_replies.push_back(
        MakeError(nullptr, kParseError, "Parse error: " + parsed.error().message()));
    return out;
  }
  const Json& value = *parsed;
  if (value.is_array()) {
    out.batch = true;
    if (!allow_batch) {
      out.error_replies.push_back(MakeError(
          nullptr, kInvalidRequest,
          "Invalid Request: JSON-RPC batches are not supported by this protocol version"));
      return out;
    }
    if (value.empty()) {
      out.error_replies.push_back(
          MakeError(nullptr, kInvalidRequest, "Invalid Request: empty batch"));
      return out;
    }
    for (const Json& item : value) {
      Json reply;
      auto m = FromJson(item, &reply);
      if (m) {
        out.messages.push_back(std::move(*m));
      } else {
        out.error_replies.push_back(std::move(reply));
      }
    }
    return out;
  }
  Json reply;
  auto m = FromJson(value, &reply);
  if (m) {
    out.messages.push_back(std::move(*m));
  } else {
    out.error_replies.push_back(std::move(reply));
  }
  return out;
}

Refusal RefuseMessage(std::string_view text, const Status& why) {
  Json envelope = PeekJsonMembers(text, {"id", "method"});
  Json id = envelope.contains("id") && ValidId(envelope["id"]) ? envelope["id"] : Json(nullptr);
  Refusal out;
  if (envelope.contains("method")) {
    if (!id.is_null()) out.to_server = MakeError(id, kParseError, "Parse error: " + why.message());
    return out;  // a notification: nobody waits for it
  }
  out.to_client = MakeError(id, kParseError, "refused the server's answer: " + why.message());
  return out;
}

Status ErrorToStatus(std::string_view method, const RpcError& error) {
  std::string text = std::string(method) + ": " + error.message + " (JSON-RPC error " +
                     std::to_string(error.code) + ")";
  switch (error.code) {
    case kMethodNotFound:
      return Unimplemented(text);
    case kInvalidParams:
    case kInvalidRequest:
      return InvalidArgument(text);
    case kResourceNotFound:
      return NotFound(text);
    case kRequestCancelled:
      return Cancelled(text);
    default:
      return Unavailable(text);
  }
}

RpcError StatusToError(const Status& status) {
  switch (status.code()) {
    case Code::kInvalidArgument:
    case Code::kNotFound:
      return {kInvalidParams, status.message(), nullptr};
    case Code::kUnimplemented:
      return {kMethodNotFound, status.message(), nullptr};
    case Code::kCancelled:
      return {kRequestCancelled, status.message(), nullptr};
    default:
      return {kInternalError, status.message(), nullptr};
  }
}

std::string IdKey(const Json& id) {
  if (id.is_string()) return "s:" + id.get<std::string>();
  return "n:" + DumpJson(id);
}

}  // namespace naut::mcp
