#pragma once
// A scripted OpenAI-compatible HTTP server for tests: it replays a script of responses and
// records every request it receives, so a test can assert what the client (or the agent)
// sent. It is built from our own code and run as a real child process (`naut-scripted-llm`),
// one per test, on port 0.
//
//   naut-scripted-llm --script script.json [--record requests.jsonl] [--host 127.0.0.1] [--port 0]
//
// On start it prints one line, "listening http://127.0.0.1:<port>", to stdout and flushes;
// SIGTERM or SIGINT stops it.
//
// Script format (JSON; every key optional):
//   {
//     "model": "scripted-model",    // /v1/models, /props and the "model" of every answer
//     "context_size": 8192,         // /props default_generation_settings.n_ctx
//     "slots": 4,                   // /props total_slots and the length of /slots
//     "prefix_cache": false,        // true: simulate llama-server's per-slot prompt cache:
//                                   // a request takes the slot sharing the longest prefix with it
//                                   // (if > 50% of that slot's prompt), else the least recently
//                                   // used one; cached_tokens = the
//                                   // prefix it shares with that slot's previous prompt
//     "health_status": 200,         // what GET /health answers (503 = "loading the model")
//     "responses": [ <response>, ... ],  // replayed in order, one per chat request
//     "default": <response>         // used once "responses" are used up; absent: HTTP 500
//   }
//   <response> = {
//     "match": "text",        // only for a request whose body contains this text (first unused
//                             // match wins; otherwise the first unused response without "match")
//     "content": "Hello",     "reasoning": "...",
//     "tool_calls": [{"id": "call_1", "name": "tool", "arguments": {..} or "raw text"}],
//     "finish_reason": "stop",         // default: "tool_calls" when tool_calls are given
//     "stream": null,                  // true / false force; absent: as the request asks
//     "chunk_size": 8,                 // characters of content per streamed delta
//     "delay_ms": 0,                   // before answering
//     "chunk_delay_ms": 0,             // between streamed chunks
//     "cut_after_chunks": -1,          // >= 0: drop the connection after that many chunks
//     "stream_error": {"message": "..", "type": ".."},  // sent as an SSE error event at the end
//     "status": 200, "error": "message", "error_type": "server_error",  // an HTTP error answer
//     "headers": {"Retry-After": "1"},
//     "raw_body": "...",               // sent verbatim instead of a JSON answer (malformed
//     replies) "usage": {"prompt_tokens": 10, "completion_tokens": 3, "cached_tokens": 5}  //
//     overrides
//     "timings": {"prompt_ms": 120.5, "predicted_ms": 40}  // llama-server's, sent as given
//   }
// Token counts without "usage": one token per 4 bytes of the prompt text (each message's role,
// content and tool calls) and of the answer.
//
// Record file: one JSON object per line, written as each request arrives:
//   {"seq": 0, "path": "/v1/chat/completions", "body": <request JSON or text>, "response": 0}
// ("response" is the index in "responses", -1 for "default", absent for non-chat paths).

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/json.h"
#include "core/status.h"

namespace naut::llm {

class ScriptedServer {
 public:
  // Parses the script; the error names the field that is wrong.
  static Result<std::unique_ptr<ScriptedServer>> Create(
      const Json& script, std::optional<std::filesystem::path> record_file);
  ~ScriptedServer();

  // Binds host:port (0 = any free port) and returns the port. Serve() then blocks until Stop().
  Result<int> Bind(const std::string& host, int port);
  void Serve();
  void Stop();  // safe from any thread

 private:
  ScriptedServer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace naut::llm
