#pragma once
// The OpenAI chat-completions wire format: requests to JSON, JSON (whole or streamed as SSE
// chunks) to typed responses, HTTP failures to typed LlmErrors. Includes llama-server's extras
// (`cache_prompt`, `timings`, error type `exceed_context_size_error`). Pure functions and
// single-owner parsers: no I/O, no threads.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "llm/chat.h"

namespace naut::llm {

// How an endpoint takes the conversation's earlier tool calls.
enum class ToolHistory {
  kNative,  // `tool_calls` on the assistant message, `tool_call_id` on the result (OpenAI's form)
  kText,    // written into the assistant's text as <tool_call>{...}</tool_call>, the form Qwen's
            // and Hermes' chat templates render them in, for a server that reads only each
            // message's role and content (Paddler 4.0.0)
};

// The request body for POST /v1/chat/completions. `default_model` fills an empty
// request.model. A token limit is sent under both its names (`max_tokens`, and
// `max_completion_tokens`, which newer servers read instead).
Json RequestToWire(const ChatRequest& request, const std::string& default_model, bool stream,
                   ToolHistory history = ToolHistory::kNative);

// A non-streamed response body. Tool-call arguments are parsed leniently (json_repair.h);
// arguments that cannot be parsed at all are left as null with arguments_text kept, for the
// tool-call parser to answer with a correction.
LlmResult<ChatResponse> ParseCompletion(const Json& body);

// Reads tool-call arguments as a model wrote them: a JSON object, a string holding one, or
// near-JSON the repairer can fix. Null when nothing can be made of it.
Json ParseArgumentsLenient(const Json& arguments, std::string* text_out);

// Maps an HTTP failure to a typed error. `retry_after_header` is the Retry-After value
// (seconds or an HTTP date; only seconds are understood), empty when absent.
LlmError ErrorFromHttp(int http_status, std::string_view body, std::string_view retry_after_header);

// Splits a text/event-stream into events. Feed bytes as they arrive; complete events come out.
class SseParser {
 public:
  struct Event {
    std::string event;  // "message" when the stream gave no event name
    std::string data;   // data lines joined with '\n'
  };
  std::vector<Event> Feed(std::string_view bytes);
  // Bytes held for an event not yet terminated by a blank line.
  size_t pending() const { return buffer_.size() + data_.size(); }

 private:
  std::string buffer_;  // an incomplete line
  std::string event_, data_;
  bool has_data_ = false;
};

// Folds streamed chat.completion.chunk objects into one ChatResponse, reporting each delta.
class StreamAccumulator {
 public:
  // Applies one chunk; fills `delta` with what it added for the caller's callback. An error
  // object inside the stream (llama-server sends those) comes back as an LlmError.
  std::optional<LlmError> Apply(const Json& chunk, StreamDelta& delta);
  bool saw_any() const { return saw_any_; }
  // The complete response; tool-call argument fragments are joined and parsed here.
  ChatResponse Finish();

 private:
  ChatResponse response_;
  std::map<int, ToolCall> calls_;  // by the stream's tool-call index
  bool saw_any_ = false;
};

}  // namespace naut::llm
