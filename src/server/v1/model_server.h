#pragma once
// The OpenAI-compatible model server on the embedded engine: what `neuronaut serve` answers
// under /v1 (chat/completions, completions, models, embeddings) and llama-server's
// /health, /props, /slots and /metrics, so that a NeuroNaut machine joins a pool exactly as a
// llama-server does and any OpenAI client can use it.
//
// Slots and batching. The server keeps `parallel` slots, each a sequence of one engine
// Context with its own KV cache. One scheduler thread owns the engine: every step it runs the
// next token of every generating slot in one forward pass (continuous batching: a request
// joins and leaves the batch between steps, never waiting for the others to finish), then a
// chunk of the prompt of each slot still reading its prompt, each in a pass of its own (see
// scheduler.h for why). A new request goes to the idle slot whose cached tokens share the
// longest prefix with its prompt; only the rest of the prompt is evaluated
// (usage.prompt_tokens_details.cached_tokens says how much was reused). When every slot is
// busy, requests wait in a queue of `queue_size`; past that they are refused with 503 and an
// OpenAI-shaped error body.
//
// Cancellation. A streaming client that goes away is noticed at its next chunk; a
// non-streaming one is checked every few tokens while its connection is open. Either way the
// request is dropped at the next step and its slot freed.
//
// Thread-safety: Open, Mount and Stop are called by one owner thread (the serve command). The
// handlers Mount registers run on httplib's worker threads and only talk to the scheduler
// through its queue. Stop cancels what is queued or running, joins the scheduler and leaves
// the handlers answering 503; it is safe to call twice and the destructor calls it.

#include <httplib.h>

#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"

namespace naut::server {

struct ModelServerOptions {
  std::string model_path;   // a GGUF file (required)
  std::string model_alias;  // the id /v1/models reports; empty: the file name without .gguf
  int threads = 0;          // engine threads; 0: every core
  int context_size = 4096;  // tokens a slot holds (capped at the model's training context)
  int parallel = 2;         // slots decoded together, 1..64
  int queue_size = 16;      // requests that may wait for a slot; more are refused with 503
  int batch_size = 512;     // tokens a forward pass takes at most (prompt chunks and decodes)
  size_t max_body_bytes = 8 * 1024 * 1024;  // larger request bodies are refused with 413
  std::string chat_format;                  // a built-in chat format instead of the template
  std::string chat_template;                // a Jinja file instead of the model's template
  // /v1/embeddings pooling: "mean", "cls" or "last"; empty: the GGUF's `<arch>.pooling_type`,
  // else mean.
  std::string pooling;
  std::string kv_cache = "f16";  // the slots' KV cache type: f16, f32 or q8_0
};

class ModelServer {
 public:
  // Checks the options and starts loading the model on the scheduler thread; /health answers
  // 503 until it is loaded. InvalidArgument names a bad option; NotFound a missing file.
  static Result<std::unique_ptr<ModelServer>> Open(ModelServerOptions options);
  ~ModelServer();
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // Blocks until the model is loaded (Ok) or failed to load (the loader's error).
  Status WaitLoaded();
  // Registers /v1/*, /health, /props, /slots and /metrics on `http`. The server must outlive
  // `http`'s serving (call Stop before destroying this object while `http` still runs).
  void Mount(httplib::Server& http);
  // Cancels queued and running requests and joins the scheduler.
  void Stop();

  class Impl;

 private:
  explicit ModelServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace naut::server
