#pragma once
// Jinja chat templates, rendered the way Hugging Face transformers renders them
// (apply_chat_template): Jinja2 3.1 in an ImmutableSandboxedEnvironment with
// trim_blocks=True, lstrip_blocks=True and the loopcontrols extension, transformers' tojson
// filter (Python's json.dumps: ", " and ": " separators, non-ASCII kept, `indent`), and the
// globals raise_exception(message) and strftime_now(format). Our own engine; no third-party
// Jinja library.
//
// The language is the subset real chat templates use: `if`/`elif`/`else`; `for` with
// `loop.*`, an `if` filter, `else`, `break` and `continue`; `set` (also `ns.attr`, tuple
// unpacking and `{% set x %}...{% endset %}`); `macro` with defaults, keyword arguments,
// `varargs`/`kwargs` and `caller`; `call`, `filter` and `with` blocks; `{% generation %}`;
// `{% raw %}`; comments and whitespace control. Expressions have Python's semantics: literals,
// lists, tuples, dicts (insertion-ordered), slicing, `in`, `~`, arithmetic, comparisons,
// `and`/`or`/`not`, inline if, filters, tests, and the str/dict/list methods templates call.
// Printing an undefined value gives ""; reading an attribute of one, calling it or computing
// with it fails, as with Jinja2's default Undefined.
//
// Bad or hostile templates fail with a Status, never a crash: parse errors and template
// errors name the line and column ("chat template line 3, column 12: ..."); nesting depth,
// output size, steps run (statements, loop iterations, and work on big values: list items
// built or compared, text built or scanned) and stack use are bounded (JinjaRenderOptions).
//
// Status codes: kInvalidArgument for syntax errors and for what Python would raise at run
// time (TypeError, UndefinedError, ...); kFailedPrecondition when the template refuses the
// input with raise_exception(message) (the message is kept verbatim after the location);
// kResourceExhausted when a limit is hit.
//
// Thread-safety: a JinjaTemplate is immutable after Parse; Render may run on several threads
// at once.

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace naut::llm {

namespace jinja {
struct Program;
}

struct JinjaOptions {
  std::string name = "chat template";  // names the template in error messages
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  int max_nesting = 128;  // statements and parenthesised expressions inside each other
  size_t max_source_bytes = size_t{4} << 20;
};

// What one render may use.
struct JinjaRenderLimits {
  size_t max_output_bytes = size_t{8} << 20;  // and the largest string a template may build
  int64_t max_steps = 2'000'000;              // statements, loop iterations and work on big values
  int max_call_depth = 200;                   // nested macro calls
  size_t max_stack_bytes = size_t{2} << 20;   // C++ stack one render may use
};

struct JinjaRenderOptions : JinjaRenderLimits {
  // The clock strftime_now() formats; unset: local time now.
  std::function<std::tm()> now;
};

class JinjaTemplate {
 public:
  static Result<JinjaTemplate> Parse(std::string_view source, JinjaOptions options = {});

  JinjaTemplate(JinjaTemplate&&) noexcept;
  JinjaTemplate& operator=(JinjaTemplate&&) noexcept;
  ~JinjaTemplate();

  // Renders with every member of `variables` (an object) as a template variable; objects
  // keep the key order of the JSON value (use ordered_json where order matters: tojson and
  // items() follow it).
  Result<std::string> Render(const nlohmann::ordered_json& variables,
                             const JinjaRenderOptions& options = {}) const;

  const std::string& name() const { return options_.name; }

 private:
  JinjaTemplate() = default;
  std::unique_ptr<const jinja::Program> program_;
  JinjaOptions options_;
};

}  // namespace naut::llm
