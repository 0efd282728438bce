#pragma once
// ChatModel over the in-process GGUF engine (src/engine): no server, same interface as the
// HTTP backends. The chat is rendered with the model's own Jinja chat template
// (`tokenizer.chat_template`, or the file EmbeddedOptions::chat_template names) the way
// transformers renders it (chat_template.h); a file without a template, or whose template does
// not parse or cannot render a chat, gets the built-in format its template's markers name
// (chat_format.h), and EmbeddedOptions::chat_format picks a built-in format outright. The
// prompt is tokenized with special tokens, evaluated with prefix reuse (an agent turn that
// extends the previous prompt evaluates only the new suffix; Usage::cached_tokens says how
// many were reused) and sampled until an end-of-generation token, a stop string or
// max_tokens. Tool calls come back in the content, in the format the prompt taught, for
// ToolCallParser to read. A chat the template refuses (raise_exception) is written in the
// built-in format when there is one, else answered with kBadRequest and the template's message.
//
// Constrained output (tool_grammar.h, engine/grammar_matcher.h). `response_format` json_object
// or json_schema holds the answer to JSON (a schema the grammar cannot express is kBadRequest
// naming the keyword). When tools are offered, the model may write text, but once it writes
// the tool-call trigger of the form its prompt taught (tool_call_style(): <tool_call>,
// [TOOL_CALLS], {"name" ...) the rest is held to one valid call of an offered tool with
// schema-valid arguments (EmbeddedOptions::constrain_tool_calls turns this off); tool_choice
// required (or a named function) holds it from the first token. A template whose tool-call
// form is unknown gets unconstrained calls under tool_choice auto (logged once) and
// kBadRequest under required, never a grammar that guesses. Stop strings do not cut text the
// grammar governs.
//
// Slots. The backend keeps EmbeddedOptions::slots contexts, each with its own KV cache, over
// the one loaded model, so that prompts that take turns (the agent's actor prompt between a
// critic, a skill writer and a curriculum prompt) each keep their cached prefix. A call goes to
// the slot whose cached tokens share the longest prefix with its prompt, when that prefix is
// worth keeping (at least 32 tokens, or the whole prompt); otherwise to the least recently used
// slot, whose cache it replaces. A slot's context is allocated the first time a prompt goes
// to it, so slots cost memory only once used: each holds a KV cache of n_layer x 2 (keys and
// values) x n_head_kv x head_dim x context_size values of 2 bytes (kv_type F16, the default) or 4
// (F32) (Qwen2.5 1.5B: 28 x 2 x 256 x 2 bytes = 28 KiB a token, 224 MiB at 8192 tokens), plus the
// engine's scratch buffers for a batch (about 60 MB for that model once a 512-token batch has run).
//
// Thread-safety: Chat may be called from several threads; calls run one at a time (one mutex
// over every slot; a second caller waits), since the engine already uses every core it is
// given for one call.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/model.h"
#include "llm/chat.h"
#include "llm/chat_format.h"
#include "llm/chat_template.h"
#include "llm/prompt_writer.h"
#include "llm/tool_grammar.h"

namespace naut::llm {

struct EmbeddedOptions {
  std::string model_path;
  int context_size = 8192;    // capped at the model's training context; the agent plans for 8192
  int threads = 0;            // 0: every core
  int slots = 2;              // KV caches kept, 1..64 (see "Slots" above)
  std::string chat_format;    // a built-in format by name; empty: the model's chat template
  std::string chat_template;  // a Jinja file to use instead of the GGUF's template
  engine::KvType kv_type = engine::KvType::kF16;  // the KV caches' element type
  // false: tool calls are left to the model, unconstrained (to measure what the grammar
  // changes); response_format is constrained either way.
  bool constrain_tool_calls = true;
};

class EmbeddedBackend : public ChatModel {
 public:
  // Loads the model (memory-mapped) and allocates the first slot's context. Errors name the
  // file; `slots` outside 1..64 is InvalidArgument.
  static Result<std::unique_ptr<EmbeddedBackend>> Load(const EmbeddedOptions& options);

  ChatResult Chat(const ChatRequest& request, const CallOptions& options) override;
  std::string Describe() const override;

  // The built-in format: the one in use when there is no usable Jinja template, else the
  // fallback for chats the template refuses (see has_format()).
  ChatFormat format() const { return writer_->format(); }
  bool has_format() const { return writer_->has_format(); }
  // Whether prompts are written by a Jinja chat template, and which.
  const ChatTemplate* chat_template() const { return writer_->chat_template(); }
  // "chat template from the model's tokenizer.chat_template", "chat template from FILE", or
  // "chat format NAME" for a built-in format.
  std::string PromptFormat() const;
  int context_size() const { return context_size_; }
  int slots() const { return slot_count_; }
  // The tool-call form the prompts teach, which the tool-call grammar follows.
  ToolCallStyle tool_call_style() const { return writer_->tool_call_style(); }

 private:
  EmbeddedBackend() = default;
  // The prompt text for a request, or kBadRequest with the template's message.
  LlmResult<std::string> Prompt(const ChatRequest& request) const;
  // The grammar the request's output must follow: none (nullopt), or kBadRequest.
  LlmResult<std::optional<OutputGrammar>> OutputGrammarFor(const ChatRequest& request);
  // The parsed grammar and the vocabulary it is matched over (both cached: requests repeat
  // their tools), or kBadRequest with the grammar's error.
  LlmResult<std::pair<const engine::Grammar*, const engine::TokenVocabulary*>> Constraint(
      const OutputGrammar& grammar) REQUIRES(mu_);

  struct Slot {
    std::unique_ptr<engine::Context> ctx;  // null until a prompt first goes to this slot
    uint64_t last_used = 0;                // 0: never used
  };
  // The slot for `prompt` (see "Slots" above), its context allocated.
  Result<Slot*> ChooseSlot(const std::vector<engine::TokenId>& prompt) REQUIRES(mu_);

  std::string path_;
  std::unique_ptr<engine::Model> model_;
  engine::ContextOptions context_options_;
  int context_size_ = 0;  // the contexts' n_ctx: the option capped at the model's
  Mutex mu_;
  // Sized by Load (slot_count_ of them) and never resized. slots_[0].ctx is allocated by Load,
  // so a context that cannot be made fails there.
  std::vector<Slot> slots_ GUARDED_BY(mu_);
  int slot_count_ = 0;
  uint64_t calls_ GUARDED_BY(mu_) = 0;          // the clock of Slot::last_used
  std::unique_ptr<const PromptWriter> writer_;  // the prompt format and output grammars
  bool constrain_tool_calls_ = true;
  std::string grammar_text_ GUARDED_BY(mu_);  // the source of grammar_
  std::unique_ptr<engine::Grammar> grammar_ GUARDED_BY(mu_);
  // By the control tokens they write as text (joined with '\n').
  std::map<std::string, std::unique_ptr<engine::TokenVocabulary>> vocabularies_ GUARDED_BY(mu_);
};

}  // namespace naut::llm
