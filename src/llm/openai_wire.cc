#include "llm/openai_wire.h"

#include <algorithm>
#include <cctype>

#include "llm/chat_format.h"
#include "llm/json_repair.h"

namespace naut::llm {

namespace {

Json ToolCallToWire(const ToolCall& call) {
  std::string args = call.arguments_text;
  if (args.empty() || !ParseJson(args, "arguments").ok()) args = DumpJson(call.arguments);
  return Json{{"id", call.id},
              {"type", "function"},
              {"function", {{"name", call.name}, {"arguments", args}}}};
}

Json MessageToWire(const Message& m, ToolHistory history) {
  Json j{{"role", std::string(RoleName(m.role))}};
  if (m.role == Role::kAssistant && !m.tool_calls.empty() && history == ToolHistory::kText) {
    std::string text = m.content;
    for (const auto& c : m.tool_calls) {
      if (!text.empty()) text += '\n';
      text += ToolCallText(c, ToolSyntax::kHermes);
    }
    j["content"] = std::move(text);
    return j;
  }
  if (m.role == Role::kAssistant && !m.tool_calls.empty()) {
    // "" rather than null for a turn that only calls tools: both are OpenAI's API, and some
    // servers (Paddler 4.0.0) refuse null with HTTP 400.
    j["content"] = m.content;
    Json calls = Json::array();
    for (const auto& c : m.tool_calls) calls.push_back(ToolCallToWire(c));
    j["tool_calls"] = std::move(calls);
  } else {
    j["content"] = m.content;
  }
  if (m.role == Role::kTool) {
    if (history == ToolHistory::kNative) j["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) j["name"] = m.name;
  }
  return j;
}

void ApplyUsage(const Json& body, ChatResponse& r) {
  if (auto u = body.find("usage"); u != body.end() && u->is_object()) {
    r.usage.prompt_tokens = GetOptionalInt(*u, "prompt_tokens").value_or(r.usage.prompt_tokens);
    r.usage.completion_tokens =
        GetOptionalInt(*u, "completion_tokens").value_or(r.usage.completion_tokens);
    if (auto d = u->find("prompt_tokens_details"); d != u->end()) {
      r.usage.cached_tokens = GetOptionalInt(*d, "cached_tokens").value_or(r.usage.cached_tokens);
    }
  }
  // llama-server: prompt_n counts only the tokens it had to evaluate; cache_n the reused ones.
  if (auto t = body.find("timings"); t != body.end() && t->is_object()) {
    int64_t cache_n = GetOptionalInt(*t, "cache_n").value_or(-1);
    if (cache_n >= 0 && r.usage.cached_tokens == 0) r.usage.cached_tokens = cache_n;
    r.timings.server_prompt_ms = GetOptionalNumber(*t, "prompt_ms").value_or(0);
    r.timings.server_predicted_ms = GetOptionalNumber(*t, "predicted_ms").value_or(0);
  }
}

bool LooksLikeContextOverflow(std::string_view type, std::string_view code, std::string message) {
  if (type == "exceed_context_size_error" || code == "context_length_exceeded") return true;
  std::transform(message.begin(), message.end(), message.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const char* needle :
       {"context length", "context size", "context window", "maximum context", "too many tokens",
        "prompt is too long", "exceeds the available context"}) {
    if (message.find(needle) != std::string::npos) return true;
  }
  return false;
}

LlmError ErrorFromBody(const Json& err, int http_status) {
  LlmError e;
  e.http_status = http_status;
  std::string type, code;
  if (err.is_string()) {
    e.message = err.get<std::string>();
  } else if (err.is_object()) {
    e.message = GetOptionalString(err, "message").value_or("");
    type = GetOptionalString(err, "type").value_or("");
    code = GetOptionalString(err, "code").value_or("");
    if (http_status == 0) e.http_status = static_cast<int>(GetOptionalInt(err, "code").value_or(0));
  }
  int s = e.http_status;
  if (LooksLikeContextOverflow(type, code, e.message)) {
    e.kind = LlmError::Kind::kContextLengthExceeded;
  } else if (s == 429) {
    e.kind = LlmError::Kind::kRateLimited;
  } else if (s == 401 || s == 403) {
    e.kind = LlmError::Kind::kAuthentication;
  } else if (s == 408) {
    e.kind = LlmError::Kind::kTimeout;
  } else if (s >= 400 && s < 500) {
    e.kind = LlmError::Kind::kBadRequest;
  } else if (s == 503) {
    e.kind = LlmError::Kind::kUnavailable;
  } else {
    e.kind = LlmError::Kind::kServer;
  }
  return e;
}

}  // namespace

Json RequestToWire(const ChatRequest& request, const std::string& default_model, bool stream,
                   ToolHistory history) {
  Json body;
  body["model"] = request.model.empty() ? default_model : request.model;
  Json messages = Json::array();
  for (const auto& m : request.messages) messages.push_back(MessageToWire(m, history));
  body["messages"] = std::move(messages);
  if (!request.tools.empty()) {
    Json tools = Json::array();
    for (const auto& t : request.tools) {
      tools.push_back(
          Json{{"type", "function"},
               {"function",
                {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}});
    }
    body["tools"] = std::move(tools);
    switch (request.tool_choice.mode) {
      case ToolChoice::Mode::kAuto:
        body["tool_choice"] = "auto";
        break;
      case ToolChoice::Mode::kNone:
        body["tool_choice"] = "none";
        break;
      case ToolChoice::Mode::kRequired:
        body["tool_choice"] = "required";
        break;
      case ToolChoice::Mode::kFunction:
        body["tool_choice"] =
            Json{{"type", "function"}, {"function", {{"name", request.tool_choice.function}}}};
        break;
    }
  }
  switch (request.response_format.type) {
    case ResponseFormat::Type::kText:
      break;
    case ResponseFormat::Type::kJsonObject:
      body["response_format"] = Json{{"type", "json_object"}};
      break;
    case ResponseFormat::Type::kJsonSchema:
      body["response_format"] = Json{{"type", "json_schema"},
                                     {"json_schema",
                                      {{"name", request.response_format.name},
                                       {"schema", request.response_format.schema},
                                       {"strict", true}}}};
      break;
  }
  const Sampling& s = request.sampling;
  if (s.temperature) body["temperature"] = *s.temperature;
  if (s.top_p) body["top_p"] = *s.top_p;
  if (s.top_k) body["top_k"] = *s.top_k;
  if (s.min_p) body["min_p"] = *s.min_p;
  if (s.repeat_penalty) body["repeat_penalty"] = *s.repeat_penalty;
  if (s.seed) body["seed"] = *s.seed;
  if (s.max_tokens) {
    body["max_tokens"] = *s.max_tokens;
    body["max_completion_tokens"] = *s.max_tokens;
  }
  if (!request.stop.empty()) body["stop"] = request.stop;
  body["cache_prompt"] = request.cache_prompt;
  body["stream"] = stream;
  if (stream) body["stream_options"] = Json{{"include_usage", true}};
  return body;
}

Json ParseArgumentsLenient(const Json& arguments, std::string* text_out) {
  if (arguments.is_object()) {
    if (text_out) *text_out = DumpJson(arguments);
    return arguments;
  }
  if (!arguments.is_string()) {
    if (text_out) *text_out = DumpJson(arguments);
    return nullptr;
  }
  std::string text = arguments.get<std::string>();
  if (text_out) *text_out = text;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return Json::object();  // "" means no arguments
  auto parsed = ParseJsonLenient(text);
  if (!parsed) return nullptr;
  return *parsed;
}

LlmResult<ChatResponse> ParseCompletion(const Json& body) {
  auto bad = [](std::string m) { return LlmError{LlmError::Kind::kBadResponse, std::move(m)}; };
  if (!body.is_object())
    return bad("expected a JSON object, got " + std::string(JsonTypeName(body)));
  if (auto err = body.find("error"); err != body.end()) return ErrorFromBody(*err, 0);
  auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty()) {
    return bad("the response has no \"choices\"");
  }
  const Json& choice = (*choices)[0];
  if (!choice.is_object()) return bad("choices[0] is not an object");
  auto msg = choice.find("message");
  if (msg == choice.end() || !msg->is_object()) return bad("choices[0] has no \"message\" object");
  ChatResponse r;
  if (auto c = msg->find("content"); c != msg->end()) {
    if (c->is_string()) {
      r.content = c->get<std::string>();
    } else if (c->is_array()) {  // content parts
      for (const auto& part : *c) r.content += GetOptionalString(part, "text").value_or("");
    } else if (!c->is_null()) {
      return bad("message.content is " + std::string(JsonTypeName(*c)) + ", expected a string");
    }
  }
  r.reasoning = GetOptionalString(*msg, "reasoning_content").value_or("");
  if (auto calls = msg->find("tool_calls"); calls != msg->end() && calls->is_array()) {
    for (size_t i = 0; i < calls->size(); ++i) {
      const Json& c = (*calls)[i];
      ToolCall call;
      call.id = GetOptionalString(c, "id").value_or("");
      if (call.id.empty()) call.id = "call_" + std::to_string(i);
      const Json fn = c.is_object() && c.contains("function") ? c["function"] : Json();
      call.name = GetOptionalString(fn, "name").value_or("");
      call.arguments = ParseArgumentsLenient(
          fn.is_object() && fn.contains("arguments") ? fn["arguments"] : Json(""),
          &call.arguments_text);
      r.tool_calls.push_back(std::move(call));
    }
  }
  r.finish_reason = ParseFinishReason(GetOptionalString(choice, "finish_reason").value_or(""));
  r.model = GetOptionalString(body, "model").value_or("");
  ApplyUsage(body, r);
  return r;
}

LlmError ErrorFromHttp(int http_status, std::string_view body,
                       std::string_view retry_after_header) {
  LlmError e;
  auto parsed = ParseJson(body, "error body");
  if (parsed && parsed->is_object() && parsed->contains("error")) {
    e = ErrorFromBody((*parsed)["error"], http_status);
  } else {
    std::string text(body.substr(0, 300));
    e = ErrorFromBody(Json(text), http_status);
  }
  e.http_status = http_status;
  if (!retry_after_header.empty()) {
    char* end = nullptr;
    std::string v(retry_after_header);
    double secs = std::strtod(v.c_str(), &end);
    if (end != v.c_str() && secs >= 0)
      e.retry_after = std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
  }
  if (e.message.empty())
    e.message = "HTTP " + std::to_string(http_status) + " with no error message";
  return e;
}

std::vector<SseParser::Event> SseParser::Feed(std::string_view bytes) {
  std::vector<Event> events;
  buffer_.append(bytes);
  size_t pos = 0;
  while (true) {
    size_t nl = buffer_.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view line(buffer_.data() + pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_data_) events.push_back({event_.empty() ? "message" : event_, data_});
      event_.clear();
      data_.clear();
      has_data_ = false;
      continue;
    }
    if (line[0] == ':') continue;  // comment / keep-alive
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) data_ += '\n';
      data_.append(value);
      has_data_ = true;
    } else if (field == "event") {
      event_ = std::string(value);
    }
  }
  buffer_.erase(0, pos);
  return events;
}

std::optional<LlmError> StreamAccumulator::Apply(const Json& chunk, StreamDelta& delta) {
  if (!chunk.is_object()) {
    return LlmError{LlmError::Kind::kBadResponse,
                    "stream chunk is " + std::string(JsonTypeName(chunk))};
  }
  if (auto err = chunk.find("error"); err != chunk.end()) return ErrorFromBody(*err, 0);
  saw_any_ = true;
  if (response_.model.empty()) response_.model = GetOptionalString(chunk, "model").value_or("");
  ApplyUsage(chunk, response_);
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return std::nullopt;
  const Json& choice = (*choices)[0];
  if (!choice.is_object())
    return LlmError{LlmError::Kind::kBadResponse, "stream choice is not an object"};
  if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
    response_.finish_reason = ParseFinishReason(f->get<std::string>());
  }
  auto d = choice.find("delta");
  if (d == choice.end() || !d->is_object()) return std::nullopt;
  delta.content = GetOptionalString(*d, "content").value_or("");
  delta.reasoning = GetOptionalString(*d, "reasoning_content").value_or("");
  response_.content += delta.content;
  response_.reasoning += delta.reasoning;
  if (auto calls = d->find("tool_calls"); calls != d->end() && calls->is_array()) {
    for (const auto& c : *calls) {
      int index = static_cast<int>(
          GetOptionalInt(c, "index").value_or(static_cast<int64_t>(calls_.size())));
      ToolCall& call = calls_[index];
      if (auto id = GetOptionalString(c, "id").value_or(""); !id.empty()) call.id = id;
      if (c.is_object() && c.contains("function") && c["function"].is_object()) {
        const Json& fn = c["function"];
        if (auto name = GetOptionalString(fn, "name").value_or("");
            !name.empty() && call.name.empty()) {
          call.name = name;
          delta.tool_call_started = true;
          delta.tool_name = name;
        }
        if (auto a = fn.find("arguments"); a != fn.end()) {
          call.arguments_text += a->is_string() ? a->get<std::string>() : DumpJson(*a);
        }
      }
    }
  }
  return std::nullopt;
}

ChatResponse StreamAccumulator::Finish() {
  for (auto& [index, call] : calls_) {
    if (call.id.empty()) call.id = "call_" + std::to_string(index);
    std::string text = call.arguments_text;
    call.arguments = ParseArgumentsLenient(Json(text), nullptr);
    response_.tool_calls.push_back(call);
  }
  calls_.clear();
  return std::move(response_);
}

}  // namespace naut::llm
