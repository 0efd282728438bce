#include "server/v1/openai_request.h"

#include <cmath>

namespace naut::server {

namespace {

ApiError Bad(std::string message) {
  return ApiError{400, "invalid_request_error", std::move(message)};
}

// The members both endpoints share: sampling, stop, stream, model. Returns an error message.
std::optional<ApiError> ParseCommon(const Json& j, V1Request& out) {
  llm::ChatRequest& r = out.request;
  llm::Sampling& s = r.sampling;
  auto number = [&](const char* key, double lo, double hi,
                    std::optional<double>& dst) -> std::optional<ApiError> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) return Bad(std::string("'") + key + "' must be a number");
    const double v = it->get<double>();
    if (!std::isfinite(v) || v < lo || v > hi) {
      return Bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                 std::to_string(hi));
    }
    dst = v;
    return std::nullopt;
  };
  auto integer = [&](const char* key, int64_t lo, int64_t hi,
                     std::optional<int64_t>& dst) -> std::optional<ApiError> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) return Bad(std::string("'") + key + "' must be an integer");
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) {
      return Bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                 std::to_string(hi));
    }
    dst = v;
    return std::nullopt;
  };
  if (auto e = number("temperature", 0, 100, s.temperature)) return e;
  if (auto e = number("top_p", 0, 1, s.top_p)) return e;
  if (auto e = number("min_p", 0, 1, s.min_p)) return e;
  if (auto e = number("repeat_penalty", 0, 100, s.repeat_penalty)) return e;
  std::optional<int64_t> v;
  if (auto e = integer("top_k", -1, 1 << 30, v)) return e;
  if (v) s.top_k = static_cast<int>(*v);
  v.reset();
  if (auto e = integer("seed", INT64_MIN, INT64_MAX, v)) return e;
  if (v) s.seed = *v;
  // max_tokens, its newer name and llama-server's; -1 (llama-server) means "until the end".
  for (const char* key : {"max_tokens", "max_completion_tokens", "n_predict"}) {
    v.reset();
    if (auto e = integer(key, -1, 1 << 30, v)) return e;
    if (v && *v >= 0) s.max_tokens = static_cast<int>(*v);
  }
  if (auto it = j.find("n"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() != 1) {
      return Bad("'n' must be 1: one choice per request");
    }
  }
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      r.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const Json& x : *it) {
        if (!x.is_string()) return Bad("'stop' must be a string or an array of strings");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      return Bad("'stop' must be a string or an array of strings");
    }
  }
  if (auto it = j.find("stream"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("'stream' must be a boolean");
    out.stream = it->get<bool>();
  }
  if (auto it = j.find("ignore_eos"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("'ignore_eos' must be a boolean");
    out.ignore_eos = it->get<bool>();
  }
  if (auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("'stream_options' must be an object");
    if (auto u = it->find("include_usage"); u != it->end()) {
      if (!u->is_boolean()) return Bad("'stream_options.include_usage' must be a boolean");
      out.include_usage = u->get<bool>();
    }
  }
  if (auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return Bad("'model' must be a string");
    r.model = it->get<std::string>();
  }
  return std::nullopt;
}

// Message content: a string, null, or an array of {"type": "text", "text": ...} parts.
std::optional<ApiError> ParseContent(const Json& c, const std::string& where, std::string& out) {
  if (c.is_null()) return std::nullopt;
  if (c.is_string()) {
    out = c.get<std::string>();
    return std::nullopt;
  }
  if (!c.is_array()) return Bad(where + ".content must be a string or an array of parts");
  for (const Json& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return Bad(where + ".content: only {\"type\": \"text\", \"text\": ...} parts are supported");
    }
    out += part["text"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> ParseMessages(const Json& j, llm::ChatRequest& r) {
  auto it = j.find("messages");
  if (it == j.end() || !it->is_array() || it->empty()) {
    return Bad("'messages' must be a non-empty array");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Bad(where + " must be an object");
    auto role_it = m.find("role");
    if (role_it == m.end() || !role_it->is_string()) return Bad(where + ".role must be a string");
    std::string role_name = role_it->get<std::string>();
    if (role_name == "developer") role_name = "system";
    auto role = llm::ParseRole(role_name);
    if (!role) {
      return Bad(where + ".role '" + role_name + "' is not system, user, assistant or tool");
    }
    llm::Message msg;
    msg.role = *role;
    if (auto c = m.find("content"); c != m.end()) {
      if (auto e = ParseContent(*c, where, msg.content)) return e;
    }
    if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
      if (!calls->is_array()) return Bad(where + ".tool_calls must be an array");
      for (size_t k = 0; k < calls->size(); ++k) {
        const Json& c = (*calls)[k];
        const std::string cw = where + ".tool_calls[" + std::to_string(k) + "]";
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) {
          return Bad(cw + " must be an object with a 'function'");
        }
        const Json& f = c["function"];
        if (!f.contains("name") || !f["name"].is_string()) {
          return Bad(cw + ".function.name must be a string");
        }
        llm::ToolCall call;
        call.id = c.value("id", "");
        call.name = f["name"].get<std::string>();
        if (auto a = f.find("arguments"); a != f.end()) {
          if (a->is_string()) {
            call.arguments_text = a->get<std::string>();
            auto parsed = ParseJson(call.arguments_text, cw + ".function.arguments");
            call.arguments = parsed.ok() ? *parsed : Json::object();
          } else if (a->is_object()) {
            call.arguments = *a;
          } else {
            return Bad(cw + ".function.arguments must be a JSON string or an object");
          }
        }
        msg.tool_calls.push_back(std::move(call));
      }
    }
    if (auto id = m.find("tool_call_id"); id != m.end() && id->is_string()) {
      msg.tool_call_id = id->get<std::string>();
    }
    if (auto name = m.find("name"); name != m.end() && name->is_string()) {
      msg.name = name->get<std::string>();
    }
    r.messages.push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseTools(const Json& j, V1Request& out) {
  llm::ChatRequest& r = out.request;
  if (auto it = j.find("tools"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Bad("'tools' must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& t = (*it)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!t.is_object() || t.value("type", "function") != "function" || !t.contains("function") ||
          !t["function"].is_object()) {
        return Bad(where + " must be {\"type\": \"function\", \"function\": {...}}");
      }
      const Json& f = t["function"];
      if (!f.contains("name") || !f["name"].is_string() || f["name"].get<std::string>().empty()) {
        return Bad(where + ".function.name must be a non-empty string");
      }
      llm::ToolSpec spec;
      spec.name = f["name"].get<std::string>();
      if (auto d = f.find("description"); d != f.end() && d->is_string()) {
        spec.description = d->get<std::string>();
      }
      if (auto p = f.find("parameters"); p != f.end() && !p->is_null()) {
        if (!p->is_object()) return Bad(where + ".function.parameters must be an object");
        spec.parameters = *p;
      }
      r.tools.push_back(std::move(spec));
    }
  }
  if (auto it = j.find("tool_choice"); it != j.end() && !it->is_null()) {
    using Mode = llm::ToolChoice::Mode;
    if (it->is_string()) {
      const std::string c = it->get<std::string>();
      if (c == "auto") {
        r.tool_choice.mode = Mode::kAuto;
      } else if (c == "none") {
        r.tool_choice.mode = Mode::kNone;
      } else if (c == "required") {
        r.tool_choice.mode = Mode::kRequired;
      } else {
        return Bad("'tool_choice' must be auto, none, required or a function");
      }
    } else if (it->is_object() && it->contains("function") && (*it)["function"].is_object() &&
               (*it)["function"].contains("name") && (*it)["function"]["name"].is_string()) {
      r.tool_choice.mode = Mode::kFunction;
      r.tool_choice.function = (*it)["function"]["name"].get<std::string>();
    } else {
      return Bad(
          "'tool_choice' must be auto, none, required or {\"type\": \"function\", "
          "\"function\": {\"name\": ...}}");
    }
  }
  if (auto it = j.find("parallel_tool_calls"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("'parallel_tool_calls' must be a boolean");
    out.parallel_tool_calls = it->get<bool>();
  }
  return std::nullopt;
}

std::optional<ApiError> ParseResponseFormat(const Json& j, llm::ChatRequest& r) {
  auto it = j.find("response_format");
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_object() || !it->contains("type") || !(*it)["type"].is_string()) {
    return Bad("'response_format' must be an object with a 'type'");
  }
  const std::string type = (*it)["type"].get<std::string>();
  using Type = llm::ResponseFormat::Type;
  if (type == "text") return std::nullopt;
  if (type == "json_object") {
    r.response_format.type = Type::kJsonObject;
    // llama-server's extension: a schema beside json_object.
    if (auto s = it->find("schema"); s != it->end() && s->is_object()) {
      r.response_format.type = Type::kJsonSchema;
      r.response_format.schema = *s;
    }
    return std::nullopt;
  }
  if (type == "json_schema") {
    auto js = it->find("json_schema");
    if (js == it->end() || !js->is_object() || !js->contains("schema") ||
        !(*js)["schema"].is_object()) {
      return Bad("'response_format.json_schema.schema' must be an object");
    }
    r.response_format.type = Type::kJsonSchema;
    r.response_format.schema = (*js)["schema"];
    if (auto n = js->find("name"); n != js->end() && n->is_string()) {
      r.response_format.name = n->get<std::string>();
    }
    return std::nullopt;
  }
  return Bad("'response_format.type' must be text, json_object or json_schema");
}

std::variant<Json, ApiError> ParseBody(std::string_view body) {
  auto j = ParseJson(body, "request body");
  if (!j.ok()) return Bad(j.error().message());
  if (!j->is_object()) return Bad("the request body must be a JSON object");
  return std::move(*j);
}

}  // namespace

Json ErrorJson(const ApiError& e) {
  return Json{{"error", {{"code", e.status}, {"message", e.message}, {"type", e.type}}}};
}

std::variant<V1Request, ApiError> ParseChatCompletionBody(std::string_view body) {
  auto parsed = ParseBody(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  V1Request out;
  out.chat = true;
  if (auto e = ParseCommon(j, out)) return *e;
  if (auto e = ParseMessages(j, out.request)) return *e;
  if (auto e = ParseTools(j, out)) return *e;
  if (auto e = ParseResponseFormat(j, out.request)) return *e;
  return out;
}

std::variant<V1Request, ApiError> ParseCompletionBody(std::string_view body) {
  auto parsed = ParseBody(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  V1Request out;
  out.chat = false;
  if (auto e = ParseCommon(j, out)) return *e;
  auto p = j.find("prompt");
  if (p == j.end() || !p->is_string()) {
    // An array of one string is what most clients send for a single prompt.
    if (p != j.end() && p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      out.prompt = (*p)[0].get<std::string>();
    } else {
      return Bad("'prompt' must be a string (or an array of one string)");
    }
  } else {
    out.prompt = p->get<std::string>();
  }
  if (out.prompt.empty()) return Bad("'prompt' is empty");
  return out;
}

std::variant<EmbeddingsRequest, ApiError> ParseEmbeddingsBody(std::string_view body) {
  auto parsed = ParseBody(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const Json& j = std::get<Json>(parsed);
  EmbeddingsRequest out;
  if (auto m = j.find("model"); m != j.end()) {
    if (!m->is_string()) return Bad("'model' must be a string");
    out.model = m->get<std::string>();
  }
  if (auto f = j.find("encoding_format"); f != j.end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64"))
      return Bad("'encoding_format' must be \"float\" or \"base64\"");
    out.base64 = *f == "base64";
  }
  // llama-server also takes `content`, as its /embedding endpoint does.
  auto input = j.find("input");
  if (input == j.end()) input = j.find("content");
  if (input == j.end()) return Bad("'input' is missing");
  const char* kShape =
      "'input' must be a string, an array of strings, an array of token ids or an array of "
      "arrays of token ids";
  auto ids = [](const Json& a) -> std::optional<std::vector<int32_t>> {
    std::vector<int32_t> v;
    for (const Json& t : a) {
      if (!t.is_number_integer()) return std::nullopt;
      const int64_t id = t.get<int64_t>();
      if (id < 0 || id > INT32_MAX) return std::nullopt;
      v.push_back(static_cast<int32_t>(id));
    }
    return v;
  };
  if (input->is_string()) {
    out.inputs.emplace_back(input->get<std::string>());
  } else if (input->is_array() && !input->empty() && (*input)[0].is_number_integer()) {
    auto v = ids(*input);
    if (!v) return Bad(kShape);
    out.inputs.emplace_back(std::move(*v));
  } else if (input->is_array()) {
    for (const Json& item : *input) {
      if (item.is_string()) {
        out.inputs.emplace_back(item.get<std::string>());
      } else if (item.is_array()) {
        auto v = ids(item);
        if (!v) return Bad(kShape);
        out.inputs.emplace_back(std::move(*v));
      } else {
        return Bad(kShape);
      }
    }
  } else {
    return Bad(kShape);
  }
  if (out.inputs.empty()) return Bad("'input' is empty");
  if (out.inputs.size() > kMaxEmbeddingInputs) {
    return Bad("'input' has " + std::to_string(out.inputs.size()) + " items; the limit is " +
               std::to_string(kMaxEmbeddingInputs));
  }
  return out;
}

}  // namespace naut::server
